"""``identify()`` / ``group_identify()``: validate a frame of users (or groups) and send their properties.

Reference: identify-api.md. The shape is the event upload's, plan -> send -> settle:
:func:`plan` (pure) resolves the mapping (``_identify_mapping``), validates
column-wise (``_identify_validation``) and readies the encoding
(``_identify_encoding``) into an :class:`~._send.UploadPlan` with the form Wire
(``_form``); ``_send.send`` runs the one upload loop (the same batching under the
limits, pacing per user, retries, 429 pauses (15 s), progress) and ``_send.settle``
the result.

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

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from . import _session
from ._client import ClientSettings
from ._config import Limits, Pacing, resolve_api_key, resolve_endpoint
from ._form import FORM_IDENTIFY, FormWire
from ._identify_encoding import encode_identifications, iter_partition_keys
from ._identify_mapping import ACCUMULATING, IdentifyMapping, plan_identify
from ._identify_validation import GROUP_PROPERTY_LIMIT, validate_identify
from ._options import IdentifyOptions
from ._plan import PartitionPlan
from ._result import UploadResult
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
from ._upload import skip_invalid

__all__ = ["identify_frame", "identify_limits", "plan", "target"]

# identify-api.md: Group Identify "at most 1024 group identifies per request, 1 MB per
# request"; Identify documents none: the same, as the reference's safe default.
MAX_OBJECTS = 1024
MAX_BODY_BYTES = 1_000_000 - 1
_API = {"user": "identify", "group": "groupidentify"}
_UNIT = {"user": "identifications", "group": "group identifications"}
_METHOD = {"user": "identify", "group": "group_identify"}
RESUME = "send result.failed to finish; rows whose reason is ambiguous_add may have been applied already"


def identify_limits(m: IdentifyMapping) -> Limits:
    """The request limits for this mapping (see the module docstring)."""
    max_objects = MAX_OBJECTS
    if m.kind == "group":
        # Each group identify carries at most one property per property column.
        max_objects = max(1, min(MAX_OBJECTS, GROUP_PROPERTY_LIMIT // max(1, len(m.properties))))
    return Limits(max_events=max_objects, max_body_bytes=MAX_BODY_BYTES)


def target(api_key: Any, options: IdentifyOptions) -> Target:
    """The URL (region, endpoint=, or the session's server with the identify path) and the key:
    the arguments first, then the session (``%amplitude``), then ``AMPLITUDE_API_KEY``."""
    api = _API[options.kind]
    given = _session.merge_defaults(api_key, options.region, None, options.endpoint)
    url = given["endpoint"]
    if options.endpoint is None and url is not None:
        # The session points at a server (the %amplitude sandbox, a custom endpoint):
        # its Identify API is on the same host, at /identify or /groupidentify.
        parts = urlsplit(url)
        url = urlunsplit((parts.scheme, parts.netloc, "/" + api, "", ""))
    endpoint = resolve_endpoint(given["region"], api, url, apis=(api,))
    return Target(endpoint, resolve_api_key(given["api_key"], required=not options.dry_run))


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


async def identify_frame(df: pd.DataFrame, mapping: Mapping[str, object] | None, options: IdentifyOptions,
                         to: Target, seams: Seams = NO_SEAMS) -> UploadResult:
    """Validate ``df`` as identifications, send the valid rows, say what happened to each row."""
    planned = plan(df, mapping, options, to)
    return count_requests(planned) if planned.dry_run else await send(planned, seams)


def plan(df: pd.DataFrame, mapping: Mapping[str, object] | None, options: IdentifyOptions,
         to: Target) -> UploadPlan:
    """Everything about sending ``df`` as identifications known before sending: pure (no IO, no
    clock). Rows go in frame order. ``on_invalid="raise"`` raises here."""
    o = options
    m = plan_identify(df, o.kind, mapping, group_type=o.group_type, group_value=o.group_value,
                      operation=o.operation, operations=o.operations, unset_missing=o.unset_missing)
    report = validate_identify(df, m)
    ledger, to_send = skip_invalid(report, o.on_invalid, len(df))
    wire = replace(FORM_IDENTIFY, resend_ambiguous=True) if o.resend_ambiguous else FORM_IDENTIFY
    limits = identify_limits(m)
    if o.max_per_request is not None:  # smaller requests (never larger than the documented limits)
        limits = replace(limits, max_events=max(1, min(int(o.max_per_request), limits.max_events)))
    settings = None
    if to.key is not None and not o.dry_run:
        settings = with_timeout(ClientSettings(
            endpoint=to.endpoint, api_key=to.key, limits=limits, pacing=o.pacing or Pacing(),
            retry=o.retry or wire.default_retry(), concurrency=o.concurrency, transport=o.transport, wire=wire),
            o.timeout)
    return UploadPlan(
        frame=df, ledger=ledger, validation=report, endpoint=to.endpoint, wire=wire, limits=limits,
        envelope=envelope(wire, to.key, None, limits),
        chunks=lambda: encode_identifications(df, m, to_send),
        total=len(df) if to_send is None else len(to_send), dry_run=o.dry_run, progress=o.progress,
        resume=RESUME, settings=settings,
        # Rows per user (group): the Scheduler keeps no pacing state for those that cannot be held back.
        partitions=None if o.dry_run else PartitionPlan.from_keys(lambda: iter_partition_keys(df, m, to_send)),
        unit=_UNIT[o.kind], method=_METHOD[o.kind], notes=_notes(m, wire),
    )
