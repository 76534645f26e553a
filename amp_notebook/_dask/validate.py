"""``ddf.amplitude.validate()``: the pandas rules, per partition, in one report.

Each partition is checked by ``validate_frame`` (the same rules, the same
messages) and returns a summary: its counts per reason and its first failing rows
(at most ``max_rows``). The report sums the counts, highlights the first failing
rows of the whole frame like the pandas report, and keeps the full ``failures``
as a lazy Dask DataFrame (indexed by ``_amp_row``; recomputed when asked for).

``duplicate_event`` (rows that will share an insert_id) is found within a
partition. With ``duplicates="frame"`` (the default) the rows are first shuffled
by device, as the upload does: identical rows, and rows with the same insert_id
for the same device/user, then always share a partition, so the check holds
across the whole frame (at the cost of the shuffle, see ``_dask.route``).
``duplicate_index`` (an index label seen before) is found within a partition
only, and the report says so.
``duplicates="partition"`` skips the shuffle and the report says the check was
per partition only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import pandas as pd

from .._encoding import EncodeOptions
from .._exceptions import ConfigurationError, ValidationError
from .._mapping import ResolvedMapping
from .._report import ValidationReport
from .._validation import ValidateOptions, validate_frame
from .route import ROW, route, user_columns
from .sample import resolve

if TYPE_CHECKING:  # pragma: no cover
    import dask.dataframe as dd
    from pandas.io.formats.style import Styler

__all__ = ["DaskValidationReport", "merged_counts", "raise_if_invalid", "validate"]

Scope = Literal["frame", "partition"]


@dataclass
class PartValidation:
    """One partition's verdict: counts, and its first failing rows with their failures."""

    rows: int
    error_rows: int
    warning_rows: int
    counts: pd.DataFrame
    sample: pd.DataFrame  # the first failing rows (user columns + _amp_row)
    sample_failures: pd.DataFrame  # their failures, with _amp_row instead of the position


def _check(part: pd.DataFrame, rm: ResolvedMapping, options: ValidateOptions) -> tuple[pd.DataFrame, ValidationReport]:
    frame = user_columns(part)
    return frame, validate_frame(frame, rm, options)


def summarise_part(part: pd.DataFrame, rm: ResolvedMapping, options: ValidateOptions,
                   max_rows: int) -> PartValidation:
    frame, report = _check(part, rm, options)
    rows = part[ROW].to_numpy()
    failures = report.failures
    failing = np.unique(failures.index.to_numpy(dtype=np.int64))[:max_rows]
    sample = frame.iloc[failing].assign(**{ROW: rows[failing]})
    chosen = failures[np.isin(failures.index.to_numpy(dtype=np.int64), failing)]
    chosen = chosen.assign(**{ROW: rows[chosen.index.to_numpy(dtype=np.int64)]}).reset_index(drop=True)
    return PartValidation(len(frame), int(report.error_positions.size), int(report.warning_positions.size),
                          report.counts(), sample, chosen)


def failures_part(part: pd.DataFrame, rm: ResolvedMapping, options: ValidateOptions) -> pd.DataFrame:
    """The partition's failures, indexed by ``_amp_row`` (unique in the frame)."""
    _, report = _check(part, rm, options)
    failures = report.failures
    rows = part[ROW].to_numpy()[failures.index.to_numpy(dtype=np.int64)]
    indexed: pd.DataFrame = failures.set_axis(pd.Index(rows, name=ROW), axis=0)
    return indexed


def merged_counts(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Summed counts, ordered as the pandas report orders them (errors first, most problems)."""
    tables = [t for t in tables if len(t)]
    if not tables:
        empty: pd.DataFrame = pd.DataFrame({"reason": pd.Series([], dtype=object), "severity": pd.Series([], dtype=object),
                                            "problems": pd.Series([], dtype=np.int64), "rows": pd.Series([], dtype=np.int64)})
        return empty
    out = pd.concat(tables).groupby(["reason", "severity"], sort=False)[["problems", "rows"]].sum().reset_index()
    out["_rank"] = (out["severity"] != "error").astype(int)
    out = out.sort_values(["_rank", "problems", "reason"], ascending=[True, False, True], kind="stable")
    return cast(pd.DataFrame, out.drop(columns="_rank").reset_index(drop=True))


class DaskValidationReport:
    """What Amplitude's rules say about a Dask DataFrame (nothing is sent to make it).

    ``counts()`` per reason and severity; ``failures``: every problem, a lazy Dask
    DataFrame (``row``, ``column``, ``key``, ``severity``, ``reason``, ``message``,
    ``value``, indexed by ``_amp_row``); ``style()``: the first failing rows of the
    frame, highlighted. ``scope`` says whether ``duplicate_event`` was checked across
    the whole frame or within each partition.
    """

    def __init__(self, parts: list[PartValidation], failures: dd.DataFrame, columns: list[Any],
                 scope: Scope, max_rows: int) -> None:
        self.parts = parts
        self.failures = failures
        self.columns = columns
        self.scope = scope
        self.max_rows = max_rows
        self.n_rows = sum(p.rows for p in parts)
        self.error_rows = sum(p.error_rows for p in parts)
        self.warning_rows = sum(p.warning_rows for p in parts)

    @property
    def ok(self) -> bool:
        return self.error_rows == 0

    def counts(self) -> pd.DataFrame:
        return merged_counts([p.counts for p in self.parts])

    def first_failing(self, max_rows: int = 100) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(rows, failures)``: the first failing rows of the frame (in frame order) and
        their failures indexed by position in ``rows``, as the pandas styler takes them."""
        samples = [p.sample for p in self.parts if len(p.sample)]
        if not samples:
            return pd.DataFrame(), pd.DataFrame()
        rows = pd.concat(samples).sort_values(ROW, kind="stable").iloc[: min(max_rows, self.max_rows)]
        failures = pd.concat([p.sample_failures for p in self.parts if len(p.sample_failures)])
        at = pd.Index(rows[ROW]).get_indexer(failures[ROW])
        failures = failures[at >= 0].set_axis(pd.Index(at[at >= 0], name="position"), axis=0)
        return rows.drop(columns=[ROW]), failures.drop(columns=[ROW]).sort_index(kind="stable")

    def style(self, max_rows: int = 100) -> Styler:
        """The first failing rows (at most ``max_rows``), bad cells highlighted, reasons as text."""
        from .._styler import style_failures

        rows, failures = self.first_failing(max_rows)
        return style_failures(rows, failures, max_rows=max_rows, columns=self.columns)

    def scope_line(self) -> str:
        # duplicate_index is per partition in both scopes: rows with one label but other devices
        # land apart. Dask results pick rows by _amp_row, so a repeated label is no trouble there.
        labels = "; repeated index labels (duplicate_index) within each partition only"
        if self.scope == "frame":
            return "duplicate_event checked across the whole frame (rows shuffled by device)" + labels
        return "duplicate_event checked within each partition only (duplicates='partition')" + labels

    def summary(self) -> str:
        return (f"{self.n_rows:,} rows in {len(self.parts):,} partitions, {self.error_rows:,} with errors, "
                f"{self.warning_rows:,} with warnings")

    def __repr__(self) -> str:
        lines = [f"DaskValidationReport: {self.summary()}", self.scope_line()]
        counts = self.counts()
        if not counts.empty:
            lines.append(counts.to_string(index=False))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        parts = [f"<p><b>DaskValidationReport</b>: {html.escape(self.summary())}<br>"
                 f"{html.escape(self.scope_line())}</p>"]
        counts = self.counts()
        if not counts.empty:
            parts.append(counts.to_html(index=False, escape=True))
            parts.append(self.style(max_rows=20).to_html())
        return "<div>" + "".join(parts) + "</div>"


def validate(
    ddf: dd.DataFrame,
    mapping: Any = None,
    *,
    min_id_length: int | None = 5,
    tz: str = "UTC",
    time_unit: str | None = None,
    now_ms: int | None = None,
    duplicates: Scope = "frame",
    assume_partitioned: bool = False,
    npartitions: int | None = None,
    shuffle_method: str | None = None,
    max_rows: int = 100,
) -> DaskValidationReport:
    """Check every row against Amplitude's rules, partition by partition (nothing is sent)."""
    import dask

    if duplicates not in ("frame", "partition"):
        raise ConfigurationError(f"duplicates must be 'frame' or 'partition', not {duplicates!r}")
    rm = resolve(ddf, mapping)
    options = ValidateOptions(
        min_id_length=min_id_length if min_id_length is not None else 5, tz=tz, time_unit=time_unit,
        now_ms=now_ms if now_ms is not None else int(time.time() * 1000),  # one clock for every partition
    )
    shuffle = duplicates == "frame" and not assume_partitioned
    _, parts = route(ddf, rm, EncodeOptions(tz=tz, time_unit=time_unit),  # type: ignore[arg-type]
                     npartitions=npartitions if shuffle else None, assume_partitioned=not shuffle,
                     shuffle_method=shuffle_method)
    summaries = dask.compute(*[dask.delayed(summarise_part)(p, rm, options, max_rows) for p in parts.to_delayed()])
    meta = failures_part(parts._meta, rm, options)
    failures = parts.map_partitions(failures_part, rm, options, meta=meta)
    return DaskValidationReport(list(summaries), failures, rm.columns(), duplicates, max_rows)


def raise_if_invalid(ddf: dd.DataFrame, mapping: Any, **options: Any) -> None:
    """``on_invalid="raise"``: check the whole frame before any row is sent."""
    report = validate(ddf, mapping, **options)
    if not report.ok:
        raise ValidationError(
            f"{report.error_rows:,} of {report.n_rows:,} rows break Amplitude's rules; see "
            ".report.counts() and .report.style(), or pass on_invalid='skip' to send only the valid rows",
            report=report,
        )
