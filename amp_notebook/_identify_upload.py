"""``identify()`` / ``group_identify()``: validate a frame of users (or groups) and send their properties.

Reference: identify-api.md. The steps are the event upload's: resolve the
mapping (``_identify_mapping``), validate column-wise (``_identify_validation``),
encode once (``_identify_encoding``), and send through the one upload loop with
the form Wire (``_form``) via :func:`~._send.send_rows`: the same batching under
the limits, pacing per user, retries, 429 pauses (15 s), progress and result.

What is different, and why (the reference):

- Identify has no ``insert_id``: nothing deduplicates a resend. ``$set``-like
  operations are idempotent; ``$add``, ``$append`` and ``$prepend`` are not. So
  after an answer that leaves open whether Amplitude applied a request (no answer,
  a dropped connection, a 5xx other than 503) rows holding one of those fail with
  reason ``ambiguous_add`` instead of being resent (``resend_ambiguous=True``
  resends them); the result says so in a note.
- Rows are sent in frame order (no time column): two rows for one user are
  applied in that order, so the later one wins.
- Limits: at most 1024 identifications and under 1 MB of form body per request
  (Group Identify's documented limits, the safe default for Identify too); for
  groups also at most 1024 group properties per request, kept by sending at most
  ``1024 // properties`` groups per request.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
import pandas as pd

from . import _session
from ._batching import Batch, chunk
from ._client import ClientSettings
from ._config import ApiKey, Endpoint, Limits, Pacing, hide_key, resolve_api_key, resolve_endpoint
from ._encoding import position_dtype
from ._exceptions import ConfigurationError, ValidationError
from ._form import FORM_IDENTIFY, FormWire
from ._identify_encoding import encode_identifications, iter_partition_keys
from ._identify_mapping import ACCUMULATING, IdentifyMapping, Kind, plan_identify
from ._identify_validation import GROUP_PROPERTY_LIMIT, validate_identify
from ._plan import PartitionPlan
from ._report import ValidationReport
from ._result import FAILED, RowLedger, UploadResult
from ._retry import RetryPolicy
from ._send import remember, send_rows, with_timeout
from ._upload import _mark_skipped

__all__ = ["identify_async", "identify_limits"]

# identify-api.md: Group Identify "at most 1024 group identifies per request, 1 MB per
# request"; Identify documents none: the same, as the reference's safe default.
MAX_OBJECTS = 1024
MAX_BODY_BYTES = 1_000_000 - 1
_API = {"user": "identify", "group": "groupidentify"}
_UNIT = {"user": "identifications", "group": "group identifications"}
_METHOD = {"user": "identify", "group": "group_identify"}


def identify_limits(m: IdentifyMapping) -> Limits:
    """The request limits for this mapping (see the module docstring)."""
    max_objects = MAX_OBJECTS
    if m.kind == "group":
        # Each group identify carries at most one property per property column.
        max_objects = max(1, min(MAX_OBJECTS, GROUP_PROPERTY_LIMIT // max(1, len(m.properties))))
    return Limits(max_events=max_objects, max_body_bytes=MAX_BODY_BYTES)


def _endpoint(kind: Kind, api_key: Any, region: str | None, endpoint: str | None) -> tuple[Endpoint, Any]:
    """The URL (region, endpoint=, or the session's server with the identify path) and the key to use."""
    api = _API[kind]
    given = _session.merge_defaults(api_key, region, None, endpoint)
    url = given["endpoint"]
    if endpoint is None and url is not None:
        # The session points at a server (the %amplitude sandbox, a custom endpoint):
        # its Identify API is on the same host, at /identify or /groupidentify.
        parts = urlsplit(url)
        url = urlunsplit((parts.scheme, parts.netloc, "/" + api, "", ""))
    return resolve_endpoint(given["region"], api, url, apis=(api,)), given["api_key"]


def _notes(m: IdentifyMapping, wire: FormWire) -> tuple[str, ...]:
    adds = [p.name for p in m.properties if p.operation in ACCUMULATING]
    if not adds:
        return ()
    names = ", ".join(adds[:5]) + (", ..." if len(adds) > 5 else "")
    if wire.resend_ambiguous:
        return (f"{names}: add/append/prepend are applied once per copy received, and resend_ambiguous=True "
                "resent them after unclear answers: some may have been applied twice",)
    return (f"{names}: add/append/prepend are applied again by every resend (Identify has no insert_id), so rows "
            "without a clear answer were not resent (failed: ambiguous_add); check those before resending them",)


def _send_positions(ledger: RowLedger, report: ValidationReport, on_invalid: str, n: int) -> np.ndarray | None:
    if on_invalid != "skip" or not len(report.error_positions):
        return None
    _mark_skipped(ledger, report)
    keep = np.ones(n, dtype=bool)
    keep[report.error_positions] = False
    return np.flatnonzero(keep).astype(position_dtype(n))


async def identify_async(
    df: pd.DataFrame,
    api_key: Any = None,
    mapping: Mapping[str, object] | None = None,
    *,
    kind: Kind = "user",
    group_type: object = None,
    group_value: object = None,
    operation: str = "set",
    operations: Mapping[str, str] | None = None,
    unset_missing: bool | Iterable[str] = False,
    region: str | None = None,
    endpoint: str | None = None,
    dry_run: bool = False,
    on_invalid: Literal["skip", "raise", "send"] = "skip",
    progress: Any = "auto",
    concurrency: int = 4,
    max_per_request: int | None = None,
    pacing: Pacing | None = None,
    retry: RetryPolicy | None = None,
    resend_ambiguous: bool = False,
    timeout: float | httpx.Timeout | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    _clock: Callable[[], float] = time.monotonic,
    _rng: random.Random | None = None,
) -> UploadResult:
    """Validate ``df`` as identifications, send the valid rows, say what happened to each row.

    See ``df.amplitude.identify`` for the options; ``kind="group"`` is Group Identify.
    """
    api_key = hide_key(api_key)  # before anything can raise: see hide_key
    if on_invalid not in ("skip", "raise", "send"):
        raise ConfigurationError(f"on_invalid must be 'skip', 'raise' or 'send', not {on_invalid!r}")
    if concurrency < 1:
        raise ConfigurationError("concurrency must be at least 1")
    m = plan_identify(df, kind, mapping, group_type=group_type, group_value=group_value, operation=operation,
                      operations=operations, unset_missing=unset_missing)
    ep, given_key = _endpoint(kind, api_key, region, endpoint)
    key = resolve_api_key(given_key, required=not dry_run)
    report = validate_identify(df, m)
    if on_invalid == "raise" and not report.ok:
        raise ValidationError(
            f"{len(report.error_positions):,} of {len(df):,} rows break Amplitude's rules; see "
            ".report.failures, or pass on_invalid='skip' to send only the valid rows", report=report,
        )
    ledger = RowLedger(len(df))
    send = _send_positions(ledger, report, on_invalid, len(df))
    total = len(df) if send is None else len(send)
    wire = replace(FORM_IDENTIFY, resend_ambiguous=True) if resend_ambiguous else FORM_IDENTIFY
    limits = identify_limits(m)
    if max_per_request is not None:  # smaller requests (never larger than the documented limits)
        limits = replace(limits, max_events=max(1, min(int(max_per_request), limits.max_events)))
    result = UploadResult(frame=df, ledger=ledger, endpoint=ep.label, api=ep.api, dry_run=dry_run,
                          validation=report, unit=_UNIT[kind], method=_METHOD[kind], notes=_notes(m, wire))
    chunks = encode_identifications(df, m, send)
    if dry_run:
        return _dry_run(result, chunks, wire, limits, key)
    assert key is not None
    settings = ClientSettings(endpoint=ep, api_key=key, limits=limits, pacing=pacing or Pacing(),
                              retry=retry or wire.default_retry(), concurrency=concurrency,
                              transport=transport, wire=wire)
    settings = with_timeout(settings, timeout)
    # Rows per user (group): the Scheduler keeps no pacing state for those that cannot be held back.
    plan = PartitionPlan.from_keys(lambda: iter_partition_keys(df, m, send))
    return await send_rows(
        result, settings, chunks, total=total, progress=progress, clock=_clock, rng=_rng, plan=plan,
        resume="send result.failed to finish; rows whose reason is ambiguous_add may have been applied already",
    )


def _dry_run(result: UploadResult, chunks: Any, wire: FormWire, limits: Limits, key: ApiKey | None) -> UploadResult:
    # The body measured as it will be sent (the key percent-encoded); a typical 32-character key when none.
    envelope = wire.scheduler_envelope(key.reveal() if key is not None else "k" * 32, None, limits)
    batches = 0
    for item in chunk(chunks, limits, envelope):
        if isinstance(item, Batch):
            batches += 1
        else:
            result.ledger.mark([item.position], FAILED, "identification_too_large",
                               f"the identification alone is {item.nbytes:,} bytes, over the request limit")
    result.batches = batches
    return remember(result)
