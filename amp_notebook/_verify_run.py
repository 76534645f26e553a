"""``result.verify()``: fetch the export of the upload's hours and match every ingested row.

IO (through ``_export``). The steps: find the hours (the upload's wall-clock span
and a margin) and the Export API (the upload's region, the session's sandbox, or
``export_endpoint``); re-encode the ingested rows to get back the insert_ids and
ids they were sent with; stream the export batch by batch into the matcher; build
the report. An export that cannot be read whole raises ``ExportError``: rows are
never called missing from an export that was not all there.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import httpx
import numpy as np
import pandas as pd

from . import _session
from ._config import hide_key, hide_secret_key
from ._encoding import iter_events
from ._exceptions import ConfigurationError
from ._export import export_access
from ._export_hours import MAX_QUERY_HOURS, HourLike, HourRange, hour_of, to_hour, upload_hours
from ._retry import RetryPolicy
from ._sent import SendRecord
from ._verify import Expected, Matcher
from ._verify_report import ExportSummary, VerifyReport, build_report


def _where(sent: SendRecord, region: str | None, export_endpoint: str | None) -> tuple[str | None, str | None]:
    """(region, export_endpoint) when the caller named neither: the upload's region, or the
    session's sandbox when the upload went there."""
    if export_endpoint is not None or region is not None:
        return region, export_endpoint
    if sent.region is not None:
        return sent.region, None
    sandbox = _session.current_sandbox()
    if sandbox is not None and sent.url in (sandbox.http_url, sandbox.batch_url):
        return None, sandbox.export_url
    raise ConfigurationError(
        f"this upload went to a custom endpoint ({sent.url}): pass export_endpoint= the Export API "
        "of that project (a sandbox's is sandbox.export_url)"
    )


def verify_upload(
    frame: pd.DataFrame,
    ingested: np.ndarray,
    sent: SendRecord | None,
    secret_key: Any = None,
    *,
    api_key: Any = None,
    export_endpoint: str | None = None,
    region: str | None = None,
    start: HourLike | None = None,
    end: HourLike | None = None,
    margin_s: float = 600.0,
    transport: httpx.BaseTransport | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | httpx.Timeout | None = None,
    max_hours: int = MAX_QUERY_HOURS,
    export_delay_s: float | None = None,
    _now: float | None = None,
) -> VerifyReport:
    """See :meth:`UploadResult.verify`: ``frame`` was uploaded, the rows at positions
    ``ingested`` were acknowledged, ``sent`` says where and when (None: a dry run).
    ``start``/``end`` override the hours (UTC, both included); ``margin_s`` widens the
    upload's span on both sides (clock differences). ``export_delay_s``: how long after
    the start of an hour its export is complete (None: Amplitude's documented ~3 h; for a
    sandbox, its ``SandboxConfig.export_delay_s``): rows missing before then are
    ``not_exported_yet`` and a warning says when to ask again."""
    api_key, secret_key = hide_key(api_key), hide_secret_key(secret_key)  # before anything can raise
    if sent is None:
        raise ConfigurationError("nothing was sent (a dry run): there is nothing to verify")
    if len(frame) != sent.rows:
        raise ConfigurationError(
            f"the uploaded frame had {sent.rows:,} rows and now has {len(frame):,}: verify "
            "re-reads the rows to find their insert_ids, so the frame must not change after the upload"
        )
    region, export_endpoint = _where(sent, region, export_endpoint)
    access = export_access(api_key, secret_key, region, export_endpoint)
    if export_delay_s is None:
        export_delay_s = access.export_delay_s
    first, last = (start if start is not None else end), (end if end is not None else start)
    if first is None or last is None:
        hours = upload_hours(sent.started_at, sent.finished_at or sent.started_at, margin_s)
    else:
        hours = HourRange(to_hour(first, name="start"), to_hour(last, name="end"))
    fetcher = access.fetcher(transport=transport, retry=retry, timeout=timeout, max_hours=max_hours)

    positions = np.asarray(ingested, dtype=np.int64)
    expected = Expected.from_events(positions, iter_events(frame, sent.mapping, sent.options, positions=positions))
    matcher = Matcher(expected)
    for batch in fetcher.batches(hours):
        matcher.add(batch)
    now = time.time() if _now is None else _now
    # Complete when the hour the upload finished in is exportable (the margin only widens
    # what is asked for); for hours the caller chose, when their last one is.
    last_hour = hour_of(sent.finished_at or sent.started_at) if first is None else hours.last
    ready = HourRange(last_hour, last_hour).available_at(export_delay_s)
    stats = fetcher.stats
    export = ExportSummary(
        source=access.target.label, hours=hours, requests=stats.requests, files=stats.read.files,
        events=stats.read.events, complete_from=ready if now < ready else None,
    )
    report = build_report(frame, expected, matcher, export, not_ingested=len(frame) - len(positions))
    if export.early and report.missing_count:
        warnings.warn(
            f"{report.missing_count:,} rows are not in the export yet, but it was asked for early: Amplitude "
            f"makes data exportable about 2 hours after the hour it arrived in; verify again after "
            f"{export.complete_from_text()}",
            UserWarning, stacklevel=3,
        )
    return report


__all__ = ["verify_upload"]
