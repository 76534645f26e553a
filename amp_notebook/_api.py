"""The functions behind the accessor: each takes the frame first."""

from __future__ import annotations

import time
from collections.abc import Coroutine, Iterator, Mapping
from typing import Any

import orjson
import pandas as pd

from ._config import hide_key, hide_secret_key
from ._encoding import EncodeOptions, iter_events
from ._jupyter.progress import widget_sink
from ._mapping import resolve_mapping
from ._options import UploadOptions, takes
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
    missing_time: str = "error",
) -> ValidationReport:
    """Check every row of ``df`` against Amplitude's rules (nothing is sent).

    mapping: columns -> event keys (automatic for columns named like keys); a string
        names a column, a value for every row is ``const(...)``;
        ``{"insert_id": key("order_id", "event_type")}`` makes each insert_id from
        those columns only (a corrected row sent again is then the same event).
    min_id_length: the shortest user_id/device_id Amplitude keeps (sent with uploads).
    tz: the zone of times written without one (an IANA name: "Europe/Berlin").
    time_unit: the unit of numeric times: "ms" (default), "s", "us" or "ns".
    now_ms: "now" for the time-in-the-future check (default: the clock).
    missing_time: an empty cell of a mapped time column is an error ("error", the
        default: the event would be dated at the upload time) or accepted with a
        warning ("upload_time").
    old_event_hours: with the backfill pre-flight (warnings): devices/users over
        500,000 events in 24 hours (``daily_quota``), and events older than this
        that set user properties (``old_user_properties``; None switches it off).

    Returns a :class:`ValidationReport`: ``.failures`` has one row per problem (row,
    column, key, severity, reason, message, value); ``.style()`` highlights them.
    """
    rm = resolve_mapping(df, mapping)
    options = ValidateOptions(
        min_id_length=min_id_length,
        tz=tz,
        time_unit=time_unit,
        now_ms=now_ms if now_ms is not None else int(time.time() * 1000),
        old_event_hours=old_event_hours,
        missing_time=missing_time,
    )
    return validate_frame(df, rm, options)


def to_events(
    df: pd.DataFrame,
    mapping: Mapping[str, object] | None = None,
    *,
    tz: str = "UTC",
    time_unit: str | None = None,
) -> Iterator[dict[str, Any]]:
    rm = resolve_mapping(df, mapping)
    return iter_events(df, rm, EncodeOptions(tz=tz, time_unit=time_unit))  # type: ignore[arg-type]


@takes(UploadOptions)
def upload(df: pd.DataFrame, api_key: Any = None, mapping: Mapping[str, object] | None = None,
           **keywords: Any) -> UploadResult:
    """Send ``df``'s rows to Amplitude as events and say what happened to each row.

    Validates first (the same rules as ``validate``), then batches, paces, sends and
    retries; returns an :class:`UploadResult` (ingested / rejected / failed / skipped,
    with reasons). Nothing is lost: every row ends in one of the four.

    api_key: the project's API key; default: ``%amplitude key``, else the
        ``AMPLITUDE_API_KEY`` environment variable. Never printed.
    mapping: columns -> event keys, as for ``validate`` (automatic when None); a
        value for every row is ``const(...)``; ``{"insert_id": key("order_id")}``
        makes insert_ids from those columns only.
    options: an ``UploadOptions`` value holding the options below (for reuse; the
        keywords given beside it win).

    With on_invalid="send", the rows the local rules refuse are sent with their values
    as they are (the invalid cells unchanged, a text ``time``, ``2.5`` for ``quantity``,
    ``"4.99"`` for ``price``; Amplitude judges them, and the rows it refuses end
    rejected with its reason, the local one staying in ``result.validation``; JSON has
    no Infinity, so ``inf`` goes as the text ``"inf"``, and an integer beyond 64 bits
    as its exact digits). With ``sample=n``, check the canary (``result.verify()``)
    before sending the whole frame.
    {options}

    Then: ``result.to_resend()`` gives the failed rows (by position, so repeated
    index labels cannot pick other rows), to send again the same way; insert_ids make
    a resend safe. ``await df.amplitude.upload_async(...)`` does the same in async code.
    """
    from ._runner import run_sync

    api_key = hide_key(api_key)  # before anything can raise: see hide_key
    return run_sync(upload_events(df, api_key, mapping, keywords))


@takes(UploadOptions)
async def upload_async(df: pd.DataFrame, api_key: Any = None, mapping: Mapping[str, object] | None = None,
                       **keywords: Any) -> UploadResult:
    api_key = hide_key(api_key)  # before anything can raise: see hide_key
    return await upload_events(df, api_key, mapping, keywords, "upload_async")


# One text for every way in (help(amp_notebook.upload), help(df.amplitude.upload), ...).
upload_async.__doc__ = "``await upload_async(df, ...)``: :func:`upload` for async code.\n\n" + (upload.__doc__ or "")


def upload_events(df: pd.DataFrame, api_key: Any, mapping: Mapping[str, object] | None,
                  keywords: dict[str, Any], where: str = "upload") -> Coroutine[Any, Any, UploadResult]:
    """The upload every events way in awaits: the options checked (``where``'s name in the
    error), the key and the ``%amplitude`` session read once (``api_key`` already hidden)."""
    from . import _upload
    from ._send import Seams

    seams = Seams.pop_from(keywords, widget=widget_sink)
    options = UploadOptions.from_keywords(where, keywords, options=keywords.pop("options", None))
    return _upload.upload_frame(df, mapping, options, _upload.target(api_key, options), seams)


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
    from ._send import last_result as _last

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
    return resolve_mapping(df, mapping).to_dict()


__all__ = [
    "EventPreview",
    "last_result",
    "preview",
    "read_export",
    "resolved_mapping",
    "to_events",
    "upload",
    "upload_async",
    "upload_events",
    "validate",
]
