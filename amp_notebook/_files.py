"""Event files for the command line: CSV, Parquet and JSON Lines, picked by extension.

Reading keeps ids as text: ``read_csv`` would turn a user_id ``00123`` into the
number 123 (and ``read_json``'s default dtype inference into 123.0), and Amplitude
would then see a different user. Everything else is read the way pandas users
expect (``read_csv``'s usual missing-value words included), except that text
formats use pandas' nullable dtypes: an integer column with gaps stays integers
(``593``, not ``593.0``), so the same rows read from CSV, JSON Lines or Parquet
encode to the same events and the same insert_ids (a re-upload in another format
is deduplicated).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable
from pathlib import Path

import pandas as pd

from ._exceptions import ConfigurationError

__all__ = ["FORMATS", "file_format", "read_frame", "write_frame"]

FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

_PANDAS_MAJOR = int(pd.__version__.split(".", 1)[0])


def file_format(path: str | Path) -> str:
    """"csv", "parquet" or "jsonl" from the file's extension (case-insensitive)."""
    suffix = Path(path).suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        known = ", ".join(FORMATS)
        raise ConfigurationError(
            f"{Path(path).name}: unknown file type {suffix or '(no extension)'!r}; use one of {known}"
        ) from None


def read_frame(
    path: str | Path,
    text_columns: Callable[[pd.Index], Collection[Hashable]] | None = None,
) -> pd.DataFrame:
    """Read an event file. ``text_columns(columns)`` names the columns to keep as text (CSV).

    Raises OSError / ValueError (pandas' parser errors are ValueErrors) / ImportError
    (Parquet without pyarrow) for the caller to report.
    """
    kind = file_format(path)
    if kind == "csv":
        as_text: dict[Hashable, type[str]] = {}
        if text_columns is not None:
            header = pd.read_csv(path, nrows=0).columns
            as_text = {c: str for c in text_columns(header)}
        return pd.read_csv(path, dtype=as_text, dtype_backend="numpy_nullable")  # type: ignore[arg-type]
    if kind == "parquet":
        # Parquet keeps its own types: ids stored as text stay text.
        return pd.read_parquet(path)
    # JSON Lines: dtype=False keeps JSON's own types (strings stay strings, objects
    # stay dicts for event_properties columns); pandas < 3 also needs dates left alone.
    options: dict[str, object] = {"dtype": False, "dtype_backend": "numpy_nullable"}
    if _PANDAS_MAJOR < 3:
        options["convert_dates"] = False
    return pd.read_json(path, lines=True, **options)  # type: ignore[call-overload,no-any-return]


def write_frame(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` (without its index) in the format of ``path``'s extension."""
    kind = file_format(path)
    if kind == "csv":
        frame.to_csv(path, index=False)
    elif kind == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True, date_format="iso", date_unit="ms")
