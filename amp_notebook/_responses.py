"""What an Amplitude answer means for each event of the batch that was sent.

Sans-IO (design.md, principle 2): :func:`interpret` takes the status, body and
headers of one answer and returns an :class:`Outcome`, a decision the upload loop
carries out. No IO, no clock, no sleep here.

The invariant every Outcome keeps, whatever the body holds (malformed JSON, bad
indexes, unknown keys): each batch index ``0..n-1`` is in exactly one of
``ingested``, ``rejected``, ``failed`` or ``resend``. Nothing is lost, nothing is
counted twice. Indexes in a body that are not integers, or out of range, are
ignored.

Decision table (reference, "Responses"):

====================  =========  ===================================================
status                kind       events
====================  =========  ===================================================
2xx                   ok         all ingested (a 200 whose body is not JSON still is)
400 + event lists     partial    listed events rejected, the rest resent
400 silenced          partial    silenced events rejected, quota-exceeded failed,
                                 throttled devices paused, the rest resent
400 request-level     fatal      all failed ("request_rejected"/"invalid_api_key")
413                   split      all resent, in two halves; one event: rejected
429 naming devices    throttled  events of named devices/users resent after a pause,
                                 others resent now, quota-exceeded failed (partial)
429 naming nobody     retry      all resent after backoff / Retry-After
408, 5xx, no answer   retry      all resent after backoff / Retry-After
refused on loopback   fatal      all failed ("connection_refused"): nothing listens
other                 fatal      all failed ("http_error")
====================  =========  ===================================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal, Protocol

import orjson

from ._retry import RetryPolicy

Kind = Literal["ok", "partial", "split", "throttled", "retry", "fatal"]

# Stable reason codes (they end up in UploadResult's rejected / failed frames).
SERVER_INVALID_FIELD = "server_invalid_field"
SERVER_MISSING_FIELD = "server_missing_field"
SERVER_INVALID_ID_LENGTH = "server_invalid_id_length"
DEVICE_SILENCED = "device_silenced"
PAYLOAD_TOO_LARGE = "payload_too_large"
DAILY_QUOTA_EXCEEDED = "daily_quota_exceeded"
REQUEST_REJECTED = "request_rejected"
INVALID_API_KEY = "invalid_api_key"
HTTP_ERROR = "http_error"
CONNECTION_REFUSED = "connection_refused"

# Per-event lists of a 400 (reference, "Responses": field -> list of event indexes).
# events_with_invalid_id_lengths is not in the reference table but real servers
# send it (ids shorter than min_id_length).
_FIELD_LISTS: tuple[tuple[str, str, str], ...] = (
    ("events_with_invalid_fields", SERVER_INVALID_FIELD, "invalid value for {field!r}"),
    ("events_with_missing_fields", SERVER_MISSING_FIELD, "missing required field {field!r}"),
    (
        "events_with_invalid_id_lengths",
        SERVER_INVALID_ID_LENGTH,
        "{field!r} is shorter than min_id_length",
    ),
)

_MAX_ERROR_CHARS = 300


class BatchView(Protocol):
    """What :func:`interpret` needs of a batch: its length and a partition key per event."""

    @property
    def partitions(self) -> Sequence[str]: ...

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class Rejection:
    """One event Amplitude refused (``rejected``) or that cannot be delivered (``failed``).

    ``index`` is the position in the batch; ``field`` the first event key blamed
    (None when no key is), ``fields`` every key blamed; ``reason`` a stable code;
    ``message`` readable text (never the event, never the API key).
    """

    index: int
    field: str | None
    reason: str
    message: str
    fields: tuple[str, ...] = ()


_EMPTY: Mapping[str, float] = MappingProxyType({})


@dataclass(frozen=True)
class Outcome:
    """The decision for one answer. The loop acts on the fields; ``kind`` summarises.

    ``ingested`` / ``rejected`` / ``failed`` are final; ``resend`` goes back to the
    queue. Together they cover every batch index exactly once (sorted, ascending).
    ``throttled`` is the subset of ``resend`` whose partition is in ``pause``:
    those wait ``pause[partition]`` seconds, the rest of ``resend`` may go now
    (or, for kind "retry", after ``policy.delay(attempt, rng, retry_after)``).
    ``retry_after``: the server's Retry-After in seconds, when it sent a usable one.
    ``eps_threshold``: the events/s per device or user the server says it throttles
    at (reference, "Responses", 429 and 400 silenced), when it sent a usable one.
    For kind "split" the loop halves the batch and sends both halves; ``shrink``
    says the body was too large (a 413), so later requests are made smaller too.
    For kind "fatal" every index is in ``failed`` and the loop stops with
    ``error`` / ``code`` / ``missing_field`` / ``invalid_api_key``.
    """

    kind: Kind
    ingested: tuple[int, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    failed: tuple[Rejection, ...] = ()
    resend: tuple[int, ...] = ()
    pause: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    retry_after: float | None = None
    error: str | None = None
    code: int | None = None
    invalid_api_key: bool = False
    status: int | None = None
    missing_field: str | None = None
    throttled: tuple[int, ...] = ()
    eps_threshold: float | None = None  # the rate the server throttles at, when it says (429, 400 silenced)
    shrink: bool = True

    def final_indexes(self) -> tuple[int, ...]:
        """Indexes with a final answer (ingested, rejected or failed), ascending."""
        return tuple(
            sorted((*self.ingested, *(r.index for r in self.rejected), *(r.index for r in self.failed)))
        )

    @property
    def done(self) -> bool:
        """True when nothing of the batch is to be sent again."""
        return not self.resend


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds, or None.

    Only the delta-seconds form is read (``"120"``, leniently ``"1.5"``). The
    HTTP-date form is ignored on purpose: turning it into a wait needs the clock,
    which this module does not read, and trusts the two clocks to agree; the
    backoff covers that case. Negative, non-finite or garbled values are ignored.
    """
    value: str | None = None
    for name, v in headers.items():
        if isinstance(name, str) and name.lower() == "retry-after":
            value = v
            break
    if not isinstance(value, str) or not _SECONDS.fullmatch(value.strip()):
        return None
    seconds = float(value.strip())
    return seconds if math.isfinite(seconds) else None


_SECONDS = re.compile(r"\d{1,12}(?:\.\d{1,9})?")


def refused_on_loopback(network_error: str | None, loopback: bool, n: int) -> Outcome | None:
    """The decision for a connection refused on this machine, else None (``interpret`` decides).

    ``network_error`` is httpx's exception type name for a send without an answer.
    On loopback a refused connection means nothing listens there (a sandbox not
    started, a wrong port): nothing was sent, and backing off for minutes cannot help.
    Elsewhere it may be a passing network problem, retried like any other.
    """
    if network_error != "ConnectError" or not loopback:
        return None
    message = "not sent: the connection was refused (nothing listens at the endpoint)"
    failed = tuple(Rejection(i, None, CONNECTION_REFUSED, message) for i in range(n))
    return Outcome("fatal", failed=failed, error="connection refused")


def interpret(
    status: int | None,
    body: bytes | None,
    headers: Mapping[str, str],
    batch: BatchView,
    *,
    policy: RetryPolicy | None = None,
) -> Outcome:
    """Decide what one answer means for each event of ``batch``.

    ``status`` None means no answer (network error, timeout, dropped connection).
    ``policy`` gives ``throttle_pause_s`` (default :class:`RetryPolicy` ``()``).
    Never raises on a malformed body.
    """
    policy = policy or RetryPolicy()
    n = len(batch)
    retry_after = parse_retry_after(headers)
    doc = _load(body)
    code = _int(doc.get("code"))

    if status is None:
        # Reference, "Responses": network error / timeout is like a 500: the events
        # may have been ingested; resending is safe because each has an insert_id.
        return _all(n, "retry", retry_after=retry_after, error="no response (network error or timeout)")
    if 200 <= status < 300:
        # Any 2xx is acceptance, whatever the body says (the official SDK drops a
        # batch whose 200 body is not JSON; a 200 means Amplitude has the events).
        return Outcome("ok", ingested=tuple(range(n)), code=code, status=status)
    if status == 400:
        return _bad_request(n, doc, code, batch, policy)
    if status == 413:
        return _too_large(n, doc, code)
    if status == 429:
        return _throttled(n, doc, code, batch, policy, retry_after)
    if status == 408 or 500 <= status < 600:
        # Reference, "Responses": 500/502/504 may or may not have been ingested,
        # 503 was not: both are resent (insert_id makes resending safe). 408 is a
        # timeout on the way in: nothing was processed, like a network error.
        return _all(n, "retry", retry_after=retry_after, error=_error(doc), code=code, status=status)
    error = _error(doc) or f"HTTP {status}"
    return _fatal(n, HTTP_ERROR, error, code, status)


# -- the 400s -----------------------------------------------------------------


def _bad_request(
    n: int, doc: Mapping[str, object], code: int | None, batch: BatchView, policy: RetryPolicy
) -> Outcome:
    # notes[i] = [(reason, field, text)]: everything said about event i, merged later
    # into one Rejection (an event may be listed under several fields).
    notes: dict[int, list[tuple[str, str | None, str]]] = {}
    for key, reason, template in _FIELD_LISTS:
        lists = doc.get(key)
        if not isinstance(lists, Mapping):
            continue
        for fname, indexes in lists.items():
            text = template.format(field=fname)
            for i in _indexes(indexes, n):
                notes.setdefault(i, []).append((reason, str(fname), text))

    # Reference, "Responses", "400 silenced": silenced events are refused for good.
    for i in _indexes(doc.get("silenced_events"), n):
        notes.setdefault(i, []).append((DEVICE_SILENCED, "device_id", "device silenced by Amplitude"))

    rejected = tuple(_merge(i, notes[i]) for i in sorted(notes))
    failed = _quota(n, doc, batch, exclude=notes.keys())
    final = notes.keys() | {r.index for r in failed}
    pause, throttled = _pauses(n, doc, batch, policy, None, exclude_final=final)
    if not rejected and not failed and not throttled:
        # No usable per-event information: a request-level 400 (invalid JSON,
        # missing api_key, unknown key), or lists that name no event of ours.
        return _request_level(n, doc, code)
    return _split_rest(
        n, "partial" if rejected or failed else "throttled", rejected, failed, pause, throttled,
        code=code, status=400, error=_error(doc), eps=_rate(doc.get("eps_threshold")) if throttled else None,
    )


def _request_level(n: int, doc: Mapping[str, object], code: int | None) -> Outcome:
    # Reference, "Responses": a request-level 400 is a bug or a bad key: stop.
    error = _error(doc) or "invalid request (HTTP 400)"
    bad_key = error.casefold().startswith("invalid api key")
    if bad_key:
        # The server may echo the key after the colon: never keep it.
        error = "Invalid API key"
    missing = doc.get("missing_field")
    out = _fatal(n, INVALID_API_KEY if bad_key else REQUEST_REJECTED, error, code, 400)
    return replace(
        out,
        invalid_api_key=bad_key,
        missing_field=missing[:100] if isinstance(missing, str) else None,
    )


def _too_large(n: int, doc: Mapping[str, object], code: int | None) -> Outcome:
    # Reference, "Responses": 413 -> split the batch (halve it) and resend.
    if n == 1:
        # One event cannot be split: it is too large on its own.
        r = Rejection(0, None, PAYLOAD_TOO_LARGE, "event too large for one request (HTTP 413)")
        return Outcome("partial", rejected=(r,), code=code, status=413, error=_error(doc))
    if n == 0:
        return _fatal(0, HTTP_ERROR, "request too large with no event in it (HTTP 413)", code, 413)
    return _all(n, "split", code=code, status=413, error=_error(doc))


def _throttled(
    n: int,
    doc: Mapping[str, object],
    code: int | None,
    batch: BatchView,
    policy: RetryPolicy,
    retry_after: float | None,
) -> Outcome:
    # Reference, "Responses", 429: pause the throttled devices/users for 30 s, keep
    # sending the others, retry until no 429. A Retry-After, if any, lengthens the
    # pauses (never shortens them below throttle_pause_s).
    failed = _quota(n, doc, batch, exclude=())
    final = {r.index for r in failed}
    pause, throttled = _pauses(n, doc, batch, policy, retry_after, exclude_final=final)
    if not throttled and not failed:
        # A 429 naming nobody of ours (a proxy, a project-wide limit): back off
        # and resend everything, like a 503.
        return _all(n, "retry", retry_after=retry_after, error=_error(doc), code=code, status=429, pause=pause)
    return _split_rest(
        n, "partial" if failed else "throttled", (), failed, pause, throttled,
        code=code, status=429, error=_error(doc), eps=_rate(doc.get("eps_threshold")),
    )


def _quota(
    n: int, doc: Mapping[str, object], batch: BatchView, exclude: Iterable[int]
) -> tuple[Rejection, ...]:
    # Devices (and users, which real servers also report) over the daily quota:
    # resending today cannot succeed, so their events fail for good.
    over: set[str] = set()
    for key, prefix in (("exceeded_daily_quota_devices", ""), ("exceeded_daily_quota_users", "user:")):
        over.update(prefix + k for k in _names(doc.get(key)))
    if not over:
        return ()
    skip = set(exclude)
    parts = _partitions(batch, n)
    return tuple(
        Rejection(i, None, DAILY_QUOTA_EXCEEDED, "device or user is over Amplitude's daily event quota")
        for i in range(n)
        if i not in skip and parts[i] in over
    )


def _pauses(
    n: int,
    doc: Mapping[str, object],
    batch: BatchView,
    policy: RetryPolicy,
    retry_after: float | None,
    exclude_final: Iterable[int],
) -> tuple[Mapping[str, float], tuple[int, ...]]:
    """(partition -> seconds, indexes of the batch that wait for one of them).

    Pauses last ``throttle_pause_s``; a Retry-After may lengthen them up to
    ``max_s`` (the same cap :meth:`RetryPolicy.delay` puts on it).
    """
    seconds = policy.throttle_pause_s
    if retry_after is not None:
        seconds = max(seconds, min(retry_after, policy.max_s))
    keys: set[str] = set(_names(doc.get("throttled_devices")))
    keys.update("user:" + u for u in _names(doc.get("throttled_users")))
    parts = _partitions(batch, n)
    # throttled_events catches what names cannot: an event with a device_id whose
    # *user* is throttled has its device as partition; pause that partition.
    keys.update(parts[i] for i in _indexes(doc.get("throttled_events"), n))
    final = set(exclude_final)
    throttled = tuple(i for i in range(n) if i not in final and parts[i] in keys)
    return MappingProxyType(dict.fromkeys(sorted(keys), seconds)), throttled


# -- building outcomes -------------------------------------------------------------


def _split_rest(
    n: int,
    kind: Kind,
    rejected: tuple[Rejection, ...],
    failed: tuple[Rejection, ...],
    pause: Mapping[str, float],
    throttled: tuple[int, ...],
    *,
    code: int | None,
    status: int,
    error: str | None,
    eps: float | None = None,
) -> Outcome:
    final = {r.index for r in rejected} | {r.index for r in failed}
    resend = tuple(i for i in range(n) if i not in final)
    return Outcome(
        kind, rejected=rejected, failed=failed, resend=resend, pause=pause,
        throttled=throttled, code=code, status=status, error=error, eps_threshold=eps,
    )


def _all(
    n: int,
    kind: Kind,
    *,
    retry_after: float | None = None,
    error: str | None = None,
    code: int | None = None,
    status: int | None = None,
    pause: Mapping[str, float] = _EMPTY,
) -> Outcome:
    return Outcome(
        kind, resend=tuple(range(n)), retry_after=retry_after, error=error, code=code,
        status=status, pause=pause,
    )


def _fatal(n: int, reason: str, error: str, code: int | None, status: int) -> Outcome:
    # Every event of the batch is accounted for (failed), so the loop can stop
    # without losing track of any.
    message = f"Amplitude refused the whole request: {error}"
    failed = tuple(Rejection(i, None, reason, message) for i in range(n))
    return Outcome("fatal", failed=failed, error=error, code=code, status=status)


def _merge(index: int, notes: list[tuple[str, str | None, str]]) -> Rejection:
    fields = tuple(dict.fromkeys(f for _, f, _ in notes if f is not None))
    texts = dict.fromkeys(t for _, _, t in notes)
    return Rejection(
        index=index,
        field=fields[0] if fields else None,
        reason=notes[0][0],
        message="Amplitude rejected the event: " + "; ".join(texts),
        fields=fields,
    )


# -- tolerant body reading ------------------------------------------------------


def _load(body: bytes | None) -> Mapping[str, object]:
    """The body as a JSON object, or {} for anything else (never raises)."""
    if not body:
        return {}
    try:
        doc = orjson.loads(body)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _indexes(value: object, n: int) -> Iterable[int]:
    """Valid indexes from a JSON list; non-integers and out-of-range ones are dropped."""
    if not isinstance(value, list):
        return ()
    return (v for v in value if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n)


def _rate(value: object) -> float | None:
    """A positive, finite events/s (``eps_threshold``), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    rate = float(value)
    return rate if math.isfinite(rate) and rate > 0 else None


def _names(value: object) -> Iterable[str]:
    """Device/user ids from a JSON object (id -> number) or a list of ids."""
    if isinstance(value, dict):
        return (k for k in value if isinstance(k, str))
    if isinstance(value, list):
        return (k for k in value if isinstance(k, str))
    return ()


def _partitions(batch: BatchView, n: int) -> Sequence[str]:
    parts = batch.partitions
    if len(parts) != n:  # a programming error upstream: fail loudly, not silently
        raise ValueError(f"batch has {n} events but {len(parts)} partition keys")
    return parts


def _error(doc: Mapping[str, object]) -> str | None:
    error = doc.get("error")
    if not isinstance(error, str) or not error.strip():
        return None
    error = error.strip()
    if error.casefold().startswith("invalid api key"):
        return "Invalid API key"  # the rest may echo the key
    return error[:_MAX_ERROR_CHARS]


__all__ = [
    "DAILY_QUOTA_EXCEEDED",
    "DEVICE_SILENCED",
    "HTTP_ERROR",
    "INVALID_API_KEY",
    "PAYLOAD_TOO_LARGE",
    "REQUEST_REJECTED",
    "SERVER_INVALID_FIELD",
    "SERVER_INVALID_ID_LENGTH",
    "SERVER_MISSING_FIELD",
    "BatchView",
    "Kind",
    "Outcome",
    "Rejection",
    "interpret",
    "parse_retry_after",
]
