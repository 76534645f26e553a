"""``upload()``: validate, encode, pace and send a frame; say what happened to every row.

The public entry points (``df.amplitude.upload``, ``upload_async``,
``amp_notebook.upload``) all come here. The sync one is the async one run by
``_runner.run_sync`` (one loop, never two copies).

Re-running an upload resends every row (cheap: Amplitude drops events whose
insert_id it already has for 7 days, and our insert_ids are stable), so an
interrupted or partly failed upload is finished by simply running it again,
or by sending only ``result.failed``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Literal

import httpx
import numpy as np
import pandas as pd

from . import _session
from ._batching import chunk as static_chunks
from ._batching import envelope_size
from ._blame import naming_columns
from ._client import ClientSettings
from ._config import Limits, Pacing, hide_key, resolve_api_key, resolve_endpoint, tier_settings
from ._encoding import EncodeOptions, encode, iter_partition_keys, position_dtype, send_order
from ._estimate import PacingEstimate
from ._exceptions import ConfigurationError, ValidationError
from ._mapping import ResolvedMapping, resolve_mapping
from ._plan import PartitionPlan
from ._result import FAILED, SKIPPED, RowLedger, UploadResult
from ._retry import RetryPolicy
from ._runner import run_sync
from ._send import remember, send_rows, with_timeout
from ._send_as_is import cells_to_send_as_is
from ._sent import SendRecord
from ._validation import ValidateOptions, validate_frame
from ._verify_run import verify_upload

OnInvalid = Literal["skip", "raise", "send"]

def upload(df: pd.DataFrame, api_key: Any = None, mapping: Mapping[str, object] | None = None, **kwargs: Any) -> UploadResult:
    """Send ``df``'s rows to Amplitude; see :func:`upload_async` for the options."""
    api_key = hide_key(api_key)
    return run_sync(upload_async(df, api_key, mapping, **kwargs))


async def upload_async(
    df: pd.DataFrame,
    api_key: Any = None,
    mapping: Mapping[str, object] | ResolvedMapping | None = None,
    *,
    region: str | None = None,
    api: str | None = None,
    endpoint: str | None = None,
    dry_run: bool = False,
    sample: int | None = None,
    on_invalid: OnInvalid = "skip",
    progress: Any = "auto",
    concurrency: int = 4,
    tier: str | None = None,
    max_events_per_request: int | None = None,
    max_events_per_second: float | None = None,
    max_requests_per_second: float | None = None,
    device_events_per_second: float | None = None,
    pacing: Pacing | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | httpx.Timeout | None = None,
    min_id_length: int | None = None,
    tz: str = "UTC",
    time_unit: str | None = None,
    missing_time: str = "error",
    transport: httpx.AsyncBaseTransport | None = None,
    now_ms: int | None = None,
    _clock: Callable[[], float] = time.monotonic,
    _rng: random.Random | None = None,
    _wall_clock: Callable[[], float] = time.time,
) -> UploadResult:
    """Validate ``df``, send the valid rows, and return what happened to each row.

    Locally invalid rows are not sent (``on_invalid="skip"``, reported as
    skipped), or stop the upload (``"raise"``), or are sent with their values as
    they are (``"send"``: the invalid cells unchanged, a text ``time``, ``2.5`` for
    ``quantity``, ``"4.99"`` for ``price``; Amplitude judges them, and the rows it
    refuses end rejected with its reason, the local one staying in
    ``result.validation``; JSON has no Infinity, so ``inf`` goes as the text
    ``"inf"``, and an integer beyond 64 bits as its exact digits). ``dry_run=True`` validates, encodes and
    batches, and sends nothing. ``sample=n`` uploads a canary of ``n`` rows picked at
    random (seeded, in frame order) first: the result covers those rows; check it
    (``result.verify()``) before sending the whole frame.
    """
    api_key = hide_key(api_key)  # before anything can raise: see hide_key
    if on_invalid not in ("skip", "raise", "send"):
        raise ConfigurationError(f"on_invalid must be 'skip', 'raise' or 'send', not {on_invalid!r}")
    if concurrency < 1:
        raise ConfigurationError("concurrency must be at least 1")
    if sample is not None:
        df = canary_rows(df, sample)
    # Explicit arguments first, then the session (%amplitude), then AMPLITUDE_API_KEY.
    given = _session.merge_defaults(api_key, region, api, endpoint)
    ep = resolve_endpoint(given["region"], given["api"], given["endpoint"])
    key = resolve_api_key(given["api_key"], required=not dry_run)

    rm = resolve_mapping(df, mapping)
    report = validate_frame(
        df,
        rm,
        ValidateOptions(
            min_id_length=min_id_length if min_id_length is not None else 5,
            tz=tz,
            time_unit=time_unit,
            now_ms=now_ms if now_ms is not None else int(time.time() * 1000),
            missing_time=missing_time,
        ),
    )
    if on_invalid == "raise" and not report.ok:
        raise ValidationError(
            f"{len(report.error_positions):,} of {len(df):,} rows break Amplitude's rules; "
            "see .report.failures, or pass on_invalid='skip' to send only the valid rows",
            report=report,
        )

    ledger = RowLedger(len(df))
    send: np.ndarray | None = None  # the rows to send; None = all, with nothing allocated per row
    if on_invalid == "skip" and len(report.error_positions):
        _mark_skipped(ledger, report)
        keep = np.ones(len(df), dtype=bool)
        keep[report.error_positions] = False
        send = np.flatnonzero(keep).astype(position_dtype(len(df)))
        del keep

    if on_invalid == "send" and rm.insert_id_key is not None:
        send = _skip_rows_without_key(ledger, report, len(df))

    options_enc = EncodeOptions(tz=tz, time_unit=time_unit, min_id_length=min_id_length)  # type: ignore[arg-type]
    # Each device's events go in time order (the scheduler keeps arrival order per device).
    order = send_order(df, rm, options_enc, send)
    total = len(df) if order is None else len(order)
    request_options = {"min_id_length": min_id_length} if min_id_length is not None else None

    tiers = tier_settings(tier)
    limits = Limits.for_api(ep.api)
    max_events = max_events_per_request or tiers.get("max_events")
    if max_events:
        limits = replace(limits, max_events=int(min(int(max_events), limits.max_events)))
    pacing = pacing or Pacing.for_api(ep.api)
    # Explicit rates (or the tier's) override the pacing's; None leaves it as it is.
    project_eps = max_events_per_second or tiers.get("project_eps")
    project_rps = max_requests_per_second or tiers.get("project_rps")
    if project_eps is not None:
        pacing = replace(pacing, project_eps=float(project_eps))
    if project_rps is not None:
        pacing = replace(pacing, project_rps=float(project_rps))
    if device_events_per_second is not None:
        pacing = replace(pacing, device_eps=device_events_per_second)

    result = UploadResult(frame=df, ledger=ledger, endpoint=ep.label, api=ep.api, dry_run=dry_run, validation=report,
                          verifier=verify_upload)
    # Events per device before anything is sent: the scheduler keeps no state for
    # devices pacing cannot hold back (most of them), and the pacing cost is known.
    plan = PartitionPlan.from_keys(lambda: iter_partition_keys(df, rm, options_enc, positions=order))
    result.pacing = PacingEstimate.of(plan, pacing, ep.api)
    # on_invalid="send": the cells the local rules refuse go out as they are (_send_as_is).
    as_is = cells_to_send_as_is(report.failures, rm) if on_invalid == "send" and not report.ok else None
    chunks = encode(df, rm, options_enc, positions=order, send_as_is=as_is)

    if dry_run:
        # Measured as it will stand in the JSON body (escapes included); a typical
        # 32-character key when none is given.
        key_len: str | int = key.reveal() if key is not None else 32
        batches = 0
        for item in static_chunks(chunks, limits, envelope_size(key_len, request_options)):
            if hasattr(item, "payloads"):
                batches += 1
            else:
                ledger.mark([item.position], FAILED, "event_too_large",
                            f"the event alone is {item.nbytes:,} bytes, over the request limit")
        result.batches = batches
        return remember(result)

    assert key is not None
    settings = ClientSettings(
        endpoint=ep,
        api_key=key,
        describe=naming_columns(rm),
        options=request_options,
        limits=limits,
        pacing=pacing,
        retry=retry or RetryPolicy(),
        concurrency=concurrency,
        transport=transport,
    )
    settings = with_timeout(settings, timeout)
    # The wall clock, which the Export API's hours count in: result.verify() finds the events by it.
    result.sent = SendRecord(ep.url, ep.region, rm, options_enc, len(df), _wall_clock())
    return await send_rows(result, settings, chunks, total=total, progress=progress, clock=_clock, rng=_rng,
                           resume="run it again to finish (insert_ids make the resend safe)",
                           plan=plan, pacing_hint=result.pacing.short(), wall_clock=_wall_clock)


def canary_rows(df: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` rows of ``df`` at random (the same ones every time), in frame order."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigurationError(f"sample must be a positive number of rows, not {n!r}")
    if n >= len(df):
        return df
    picked = np.sort(np.random.default_rng(0).choice(len(df), size=n, replace=False))
    canary: pd.DataFrame = df.iloc[picked]
    return canary


def _skip_rows_without_key(ledger: RowLedger, report: Any, n: int) -> np.ndarray | None:
    """on_invalid="send" still skips rows missing a key(...) value: there is nothing to send
    as it is in their place, and without an insert_id the key's dedup is gone (_key_ids)."""
    failures = report.failures
    keyless = failures[(failures["reason"] == "insert_id_key_missing").to_numpy()]
    keyless = keyless[~keyless.index.duplicated(keep="first")]
    if keyless.empty:
        return None
    ledger.mark_each([(int(p), "invalid: insert_id_key_missing", f"insert_id: {m}")
                      for p, m in zip(keyless.index, keyless["message"], strict=True)], SKIPPED)
    keep = np.ones(n, dtype=bool)
    keep[keyless.index.to_numpy()] = False
    return np.flatnonzero(keep).astype(position_dtype(n))


def _mark_skipped(ledger: RowLedger, report: Any) -> None:
    """Locally invalid rows: skipped, with the first error as the reason (all are in the report)."""
    failures = report.failures  # indexed by row position
    errors = failures[failures["severity"] == "error"]
    first = errors[~errors.index.duplicated(keep="first")]
    items = [
        (int(p), f"invalid: {r}", f"{c}: {m}")
        for p, r, c, m in zip(first.index, first["reason"], first["key"], first["message"], strict=True)
    ]
    ledger.mark_each(items, SKIPPED)
