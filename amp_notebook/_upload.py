"""An event upload: ``plan`` the frame (pure), ``send`` the plan, ``settle`` the result.

The ways in (``df.amplitude.upload``, ``upload_async``, ``amp_notebook.upload``, a
Dask partition) read the key and the ``%amplitude`` session once (:func:`target`),
check the options once (:class:`~._options.UploadOptions`) and await
:func:`upload_frame`: :func:`plan` decides everything that can be decided before a
byte is sent (settings, the validation report, the skipped rows, the send order, the
rows per device, what pacing costs, the encoded rows to send); a dry run counts the
requests (``_send.count_requests``); a real run is ``_send.send`` (the one loop).

Re-running an upload resends every row (cheap: Amplitude drops events whose
insert_id it already has for 7 days, and our insert_ids are stable), so an
interrupted or partly failed upload is finished by simply running it again,
or by sending only ``result.failed``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from . import _session
from ._blame import naming_columns
from ._client import ClientSettings
from ._config import Endpoint, Limits, Pacing, resolve_api_key, resolve_endpoint, tier_settings
from ._encoding import EncodeOptions, encode, iter_partition_keys, position_dtype, send_order
from ._estimate import PacingEstimate
from ._exceptions import ValidationError
from ._mapping import ResolvedMapping, resolve_mapping
from ._options import UploadOptions
from ._plan import PartitionPlan
from ._prepared import PreparedColumns
from ._report import ValidationReport
from ._result import SKIPPED, RowLedger, UploadResult
from ._retry import RetryPolicy
from ._send import (
    NO_SEAMS,
    Seams,
    Target,
    UploadPlan,
    count_requests,
    envelope,
    send,
    with_timeout,
)
from ._send_as_is import cells_to_send_as_is
from ._sent import SendRecord
from ._validation import ValidateOptions, validate_frame
from ._verify_run import verify_upload
from ._wire import JSON_EVENTS

__all__ = ["canary_rows", "plan", "session_target", "skip_invalid", "target", "upload_frame"]

RESUME = "run it again to finish (insert_ids make the resend safe)"


def target(api_key: Any, options: UploadOptions) -> Target:
    """Where the events go and the key: the arguments first, then the session (``%amplitude``),
    then ``AMPLITUDE_API_KEY``. Read once per upload, at its way in."""
    given, endpoint = session_target(api_key, options)
    return Target(endpoint, resolve_api_key(given["api_key"], required=not options.dry_run))


def session_target(api_key: Any, options: UploadOptions) -> tuple[dict[str, Any], Endpoint]:
    """The key, region, api and endpoint as given, the session (``%amplitude``) filling the
    rest (``_session.merge_defaults``), and the endpoint they name. (The Dask driver reads the
    target with this too, and leaves the key's environment variable to the workers.)"""
    given = _session.merge_defaults(api_key, options.region, options.api, options.endpoint)
    return given, resolve_endpoint(given["region"], given["api"], given["endpoint"])


async def upload_frame(df: pd.DataFrame, mapping: Mapping[str, object] | ResolvedMapping | None,
                       options: UploadOptions, to: Target, seams: Seams = NO_SEAMS) -> UploadResult:
    """Validate ``df``, send the valid rows to ``to``, and return what happened to each row."""
    now_ms = options.now_ms if options.now_ms is not None else int(time.time() * 1000)
    planned = plan(df, mapping, options, to, now_ms=now_ms)
    return count_requests(planned) if planned.dry_run else await send(planned, seams)


def plan(df: pd.DataFrame, mapping: Mapping[str, object] | ResolvedMapping | None, options: UploadOptions,
         to: Target, *, now_ms: int) -> UploadPlan:
    """Everything about sending ``df`` that is known before sending: pure (no IO; ``now_ms`` is
    the only clock), so two calls give equal plans. ``on_invalid="raise"`` raises here."""
    o = options
    if o.sample is not None:
        df = canary_rows(df, o.sample)
    rm = resolve_mapping(df, mapping)
    # Each column converted once: for validation, the send order, the partition plan and encoding.
    prepared = PreparedColumns(df, rm, tz=o.tz, time_unit=o.time_unit)
    report = validate_frame(df, rm, ValidateOptions(
        min_id_length=o.min_id_length if o.min_id_length is not None else 5, tz=o.tz, time_unit=o.time_unit,
        now_ms=now_ms, missing_time=o.missing_time), prepared)
    ledger, to_send = skip_invalid(report, o.on_invalid, len(df))
    if o.on_invalid == "send" and rm.insert_id_key is not None:
        to_send = _skip_rows_without_key(ledger, report, len(df))

    encoding = EncodeOptions(tz=o.tz, time_unit=o.time_unit, min_id_length=o.min_id_length)  # type: ignore[arg-type]
    # Each device's events go in time order (the scheduler keeps arrival order per device).
    order = send_order(df, rm, encoding, to_send, prepared)
    request_options = {"min_id_length": o.min_id_length} if o.min_id_length is not None else None
    limits, pacing = limits_and_pacing(o, to.endpoint.api)
    # Events per device before anything is sent: the scheduler keeps no state for
    # devices pacing cannot hold back (most of them), and the pacing cost is known.
    partitions = PartitionPlan.from_keys(lambda: iter_partition_keys(df, rm, encoding, positions=order, prepared=prepared))
    # on_invalid="send": the cells the local rules refuse go out as they are (_send_as_is).
    as_is = cells_to_send_as_is(report.failures, rm) if o.on_invalid == "send" and not report.ok else None
    settings = None
    if to.key is not None and not o.dry_run:
        settings = with_timeout(ClientSettings(
            endpoint=to.endpoint, api_key=to.key, describe=naming_columns(rm), options=request_options,
            limits=limits, pacing=pacing, retry=o.retry or RetryPolicy(), concurrency=o.concurrency,
            transport=o.transport), o.timeout)
    wire = settings.wire if settings is not None else JSON_EVENTS
    return UploadPlan(
        frame=df, ledger=ledger, validation=report, endpoint=to.endpoint, wire=wire, limits=limits,
        envelope=envelope(wire, to.key, request_options, limits),
        chunks=lambda: encode(df, rm, encoding, positions=order, send_as_is=as_is, prepared=prepared),
        total=len(df) if order is None else len(order), dry_run=o.dry_run, progress=o.progress,
        resume=RESUME, settings=settings, partitions=partitions,
        pacing=PacingEstimate.of(partitions, pacing, to.endpoint.api),
        sent_as=SendRecord(to.endpoint.url, to.endpoint.region, rm, encoding, len(df), 0.0),
        verifier=verify_upload,
    )


def limits_and_pacing(o: UploadOptions, api: str) -> tuple[Limits, Pacing]:
    """The request limits and pacing: the API's, tightened by the tier and the explicit options.
    (The Dask driver splits these project caps between its partitions.)"""
    tiers = tier_settings(o.tier)
    limits = Limits.for_api(api)
    max_events = o.max_events_per_request or tiers.get("max_events")
    if max_events:
        limits = replace(limits, max_events=int(min(int(max_events), limits.max_events)))
    pacing = o.pacing or Pacing.for_api(api)
    # Explicit rates (or the tier's) override the pacing's; None leaves it as it is.
    project_eps = o.max_events_per_second or tiers.get("project_eps")
    project_rps = o.max_requests_per_second or tiers.get("project_rps")
    if project_eps is not None:
        pacing = replace(pacing, project_eps=float(project_eps))
    if project_rps is not None:
        pacing = replace(pacing, project_rps=float(project_rps))
    if o.device_events_per_second is not None:
        pacing = replace(pacing, device_eps=o.device_events_per_second)
    return limits, pacing


def skip_invalid(report: ValidationReport, on_invalid: str, n: int) -> tuple[RowLedger, np.ndarray | None]:
    """The ledger with the rows not to send marked, and the positions to send (None: all).

    ``"raise"`` raises :class:`ValidationError` for any invalid row; ``"skip"`` marks them
    skipped with their first error as the reason (all are in the report); ``"send"`` keeps them.
    """
    if on_invalid == "raise" and not report.ok:
        raise ValidationError(
            f"{len(report.error_positions):,} of {n:,} rows break Amplitude's rules; "
            "see .report.failures, or pass on_invalid='skip' to send only the valid rows",
            report=report,
        )
    ledger = RowLedger(n)
    if on_invalid != "skip" or not len(report.error_positions):
        return ledger, None  # all of them, with nothing allocated per row
    failures = report.failures  # indexed by row position
    errors = failures[failures["severity"] == "error"]
    first = errors[~errors.index.duplicated(keep="first")]
    ledger.mark_each([
        (int(p), f"invalid: {r}", f"{c}: {m}")
        for p, r, c, m in zip(first.index, first["reason"], first["key"], first["message"], strict=True)
    ], SKIPPED)
    keep = np.ones(n, dtype=bool)
    keep[report.error_positions] = False
    return ledger, np.flatnonzero(keep).astype(position_dtype(n))


def canary_rows(df: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` rows of ``df`` at random (the same ones every time), in frame order."""
    if n >= len(df):
        return df
    picked = np.sort(np.random.default_rng(0).choice(len(df), size=n, replace=False))
    canary: pd.DataFrame = df.iloc[picked]
    return canary


def _skip_rows_without_key(ledger: RowLedger, report: ValidationReport, n: int) -> np.ndarray | None:
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
