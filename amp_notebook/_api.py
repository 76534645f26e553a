"""The functions behind the accessor: each takes the frame first."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
import pandas as pd

from ._config import hide_key, hide_secret_key
from ._encoding import EncodeOptions, iter_events
from ._mapping import resolve_mapping
from ._report import ValidationReport
from ._result import UploadResult
from ._validation import ValidateOptions, validate_frame


def validate(
    df: pd.DataFrame,
    mapping: Mapping[str, object] | None = None,
    *,
    min_id_length: int = 5,
    tz: str = "UTC",
    time_unit: str | None = None,
    now_ms: int | None = None,
    old_event_hours: float | None = 24.0,
) -> ValidationReport:
    """Check every row of ``df`` against Amplitude's rules (nothing is sent).

    With the backfill pre-flight as warnings: devices/users over 500,000 events in 24
    hours (``daily_quota``), and events older than ``old_event_hours`` that set user
    properties (``old_user_properties``; None switches it off).
    """
    rm = resolve_mapping(df.columns, mapping)
    options = ValidateOptions(
        min_id_length=min_id_length,
        tz=tz,
        time_unit=time_unit,
        now_ms=now_ms if now_ms is not None else int(time.time() * 1000),
        old_event_hours=old_event_hours,
    )
    return validate_frame(df, rm, options)


def to_events(
    df: pd.DataFrame,
    mapping: Mapping[str, object] | None = None,
    *,
    tz: str = "UTC",
    time_unit: str | None = None,
) -> Iterator[dict[str, Any]]:
    rm = resolve_mapping(df.columns, mapping)
    return iter_events(df, rm, EncodeOptions(tz=tz, time_unit=time_unit))  # type: ignore[arg-type]


def upload(df: pd.DataFrame, api_key: Any = None, mapping: Mapping[str, object] | None = None, **options: Any) -> UploadResult:
    """Send ``df``'s rows to Amplitude and say what happened to each row.

    See ``amp_notebook._upload.upload_async`` for every option. httpx is imported
    here, on first use, so the pure core imports without it.
    """
    from ._upload import upload as _upload

    api_key = hide_key(api_key)
    return _upload(df, api_key, mapping, **options)


async def upload_async(
    df: pd.DataFrame, api_key: Any = None, mapping: Mapping[str, object] | None = None, **options: Any
) -> UploadResult:
    """``await amp_notebook.upload_async(df, ...)``: upload from async code."""
    from ._upload import upload_async as _upload_async

    api_key = hide_key(api_key)
    return await _upload_async(df, api_key, mapping, **options)


def read_export(start: Any, end: Any = None, **options: Any) -> pd.DataFrame:
    """The events Amplitude received in hours ``start`` to ``end`` (UTC, both included), in upload shape.

    ``start``/``end``: ``"YYYYMMDDTHH"``, an ISO string or a datetime (naive = UTC).
    Keys: ``api_key=``/``secret_key=``, else ``%amplitude key``/``secret``, else
    ``AMPLITUDE_API_KEY``/``AMPLITUDE_SECRET_KEY``. ``region="eu"`` or
    ``export_endpoint=URL`` pick the Export API. The answer streams through a
    temporary file; an incomplete export raises ``ExportError``. See
    ``amp_notebook._export.read_export`` for every option.
    """
    from ._export import read_export as _read_export

    options["api_key"] = hide_key(options.get("api_key"))
    options["secret_key"] = hide_secret_key(options.get("secret_key"))
    return _read_export(start, end, **options)


def last_result() -> UploadResult | None:
    """The result of the last upload in this process, also after an interrupt."""
    from ._upload import last_result as _last

    return _last()


class EventPreview:
    """Events as pretty JSON: text in a terminal, a <pre> block in a notebook."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def __repr__(self) -> str:
        return "\n".join(
            orjson.dumps(e, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() for e in self.events
        )

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(repr(self))}</pre>"


def preview(df: pd.DataFrame, n: int = 5, mapping: Mapping[str, object] | None = None, **options: Any) -> EventPreview:
    events = []
    for event in to_events(df.iloc[: max(0, n)], mapping, **options):
        events.append(event)
    return EventPreview(events)


def resolved_mapping(df: pd.DataFrame, mapping: Mapping[str, object] | None = None) -> dict[str, object]:
    return resolve_mapping(df.columns, mapping).to_dict()


__all__ = [
    "EventPreview",
    "last_result",
    "preview",
    "read_export",
    "resolved_mapping",
    "to_events",
    "upload",
    "upload_async",
    "validate",
]
