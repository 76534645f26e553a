"""The form-encoded Wire of Identify and Group Identify.

Reference (identify-api.md, "Identify" and "Group Identify"): the body is
``application/x-www-form-urlencoded`` with two fields, ``api_key`` and
``identification`` (a JSON array of identification objects), and the limits
are measured on that encoded body, not on the JSON. So the payloads the
Scheduler holds are already percent-encoded JSON objects, and a body is::

    api_key=<key, percent-encoded>&identification=%5B<p1>%2C<p2>...%5D

``%2C`` (the comma) costs 3 bytes where the Scheduler counts 1: the wire's
``separator_bytes`` is 3, and :meth:`Wire.scheduler_envelope` reserves the
difference (see ``_wire``).

Reading an answer (reference: "Throttling and status codes as HTTP V2") starts
from :func:`~._responses.interpret`, with two changes for what Identify is:

- **$add is not idempotent** (reference: "sent twice, added twice"), and nor are
  ``$append`` and ``$prepend`` (they add the value again). An identify has no
  ``insert_id``, so after an answer that leaves open whether Amplitude applied
  the request (no answer, a timeout, a dropped connection, a 5xx other than
  503), rows with one of those operations are **not** resent: they fail with
  reason ``ambiguous_add`` and a message saying the update may have been
  applied. ``resend_ambiguous=True`` resends them anyway (a resend may apply them
  twice). Everything else is resent as usual: ``$set`` twice is ``$set`` once.
  503 ("not ingested"), 408, 413 and 429 answers applied nothing, so every row
  is resent after them.
- **A 400 that names no row** (the docs list no per-item errors for Identify:
  "400 missing_event, identification missing or malformed") is a request-level
  refusal: the batch is halved and each half resent (nothing was applied), until
  the row Amplitude refuses is alone; it is rejected with Amplitude's message.
  An invalid API key still stops the upload.

Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ._batching import Batch
from ._responses import BatchView, Outcome, Rejection
from ._retry import RetryPolicy
from ._wire import Wire

__all__ = [
    "AMBIGUOUS_ADD",
    "FORM_IDENTIFY",
    "SERVER_REJECTED",
    "FormWire",
    "encode_payloads",
    "percent_encode",
]

AMBIGUOUS_ADD = "ambiguous_add"
SERVER_REJECTED = "server_rejected"

# RFC 3986 unreserved characters pass as they are; every other byte is %XX.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPES = {b: b"%%%02X" % b for b in range(256) if b not in _UNRESERVED}
_NEWLINE = b"%0A"


def percent_encode(data: bytes) -> bytes:
    """``data`` with every byte but the unreserved ones as ``%XX`` (as ``quote_from_bytes(safe="")``).

    One ``bytes.replace`` pass per distinct byte that needs escaping (a JSON text
    has about ten): C speed, several times faster than the standard library's
    per-byte loop on a megabyte body.
    """
    if not data:
        return data
    counts = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
    if counts[0x25]:  # "%" first, so the escapes added later are not escaped again
        data = data.replace(b"%", b"%25")
    for byte in np.flatnonzero(counts).tolist():
        if byte != 0x25 and byte not in _UNRESERVED:
            data = data.replace(bytes((byte,)), _ESCAPES[byte])
    return data


def encode_payloads(payloads: Sequence[bytes]) -> list[bytes]:
    """Each JSON payload percent-encoded, in one pass over them all.

    Joined by a newline, which compact JSON never holds raw (orjson escapes it
    inside strings), encoded once, split on the encoded newline.
    """
    if not payloads:
        return []
    parts = percent_encode(b"\n".join(payloads)).split(_NEWLINE)
    if len(parts) != len(payloads):  # a payload held a raw newline: encode one by one
        return [percent_encode(p) for p in payloads]
    return parts


# Operations whose effect grows with every copy applied (reference, "User property
# operations"): $add adds again, $append/$prepend add the value again. Matched on the
# encoded payload, which is what Amplitude applies: `"$add":` as an object key. A
# string value holding the same text is escaped (\"), so it cannot match; a property
# literally named "$add" would, and is then treated as an add (the safe side).
_ACCUMULATING: tuple[bytes, ...] = tuple(
    percent_encode(b'"$' + name + b'":') for name in (b"add", b"append", b"prepend")
)


def accumulates(payload: bytes) -> bool:
    """True when the (encoded) identification holds $add, $append or $prepend."""
    return any(token in payload for token in _ACCUMULATING)


def _ambiguous(status: int | None) -> bool:
    """May Amplitude have applied the request? (reference, amplitude-api.md "Responses":
    500/502/504 "may or may not have been ingested", network errors "like 500", 503 "not
    ingested"). 408: the request never reached processing."""
    return status is None or (500 <= status < 600 and status != 503)


@dataclass(frozen=True)
class FormWire(Wire):
    """``api_key=...&identification=[...]``, form-encoded (see the module docstring)."""

    name: str = "form identify"
    content_type: str = "application/x-www-form-urlencoded"
    separator_bytes: int = len(b"%2C")
    # identify-api.md, "Limits and behaviour": "On a 429, pause the devices/users of
    # that request for 15 s before retrying".
    throttle_pause_s: float = 15.0
    resend_note: str = (
        "resending is safe for set, setOnce, unset, remove, preInsert, postInsert and clearAll; "
        "add, append and prepend are applied again by every resend"
    )
    unit: str = "identifications"
    payload: str = "identification"
    field: str = "identification"
    resend_ambiguous: bool = False  # resend add/append/prepend after an ambiguous answer

    def _head(self, api_key: str) -> bytes:
        return b"api_key=" + percent_encode(api_key.encode()) + b"&" + self.field.encode() + b"=%5B"

    def envelope(self, api_key: str, options: Mapping[str, object] | None) -> int:
        # Identify takes no request options (the reference lists none): none are sent.
        return len(self._head(api_key)) + len(b"%5D")

    def body(self, batch: Batch, api_key: str, options: Mapping[str, object] | None) -> bytes:
        return b"".join((self._head(api_key), b"%2C".join(batch.payloads), b"%5D"))

    def read(
        self,
        status: int | None,
        body: bytes | None,
        headers: Mapping[str, str],
        batch: BatchView,
        policy: RetryPolicy,
    ) -> Outcome:
        outcome = super().read(status, body, headers, batch, policy)
        n = len(batch)
        if outcome.kind == "fatal" and status == 400 and not outcome.invalid_api_key and outcome.missing_field != "api_key":
            return _bisect(n, outcome)
        if outcome.kind == "retry" and _ambiguous(status) and not self.resend_ambiguous:
            return _hold_back_accumulating(outcome, batch, status)
        return outcome

    def unanswered(self, batch: BatchView) -> tuple[Rejection, ...]:
        """A request in flight when the upload stopped: its adds may have been applied."""
        if self.resend_ambiguous:
            return ()
        return _ambiguous_rows(_accumulating(batch, range(len(batch))), "in flight when the upload stopped")


def _bisect(n: int, outcome: Outcome) -> Outcome:
    error = outcome.error or "invalid request (HTTP 400)"
    if n > 1:
        # Halve and resend both halves; not a size problem, so later requests keep their size.
        return Outcome("split", resend=tuple(range(n)), shrink=False, code=outcome.code, status=400, error=error)
    rejected = tuple(
        Rejection(i, None, SERVER_REJECTED, f"Amplitude refused this identification: {error}") for i in range(n)
    )
    return Outcome("partial", rejected=rejected, code=outcome.code, status=400, error=error)


def _accumulating(batch: BatchView, indexes: Sequence[int]) -> list[int]:
    payloads: Sequence[bytes] | None = getattr(batch, "payloads", None)
    if payloads is None:  # a batch view without payloads: every row may accumulate
        return sorted(indexes)
    return sorted(i for i in indexes if accumulates(payloads[i]))


def _ambiguous_rows(indexes: Sequence[int], answer: str) -> tuple[Rejection, ...]:
    message = (
        f"{answer}: Amplitude may have applied this update, and it holds add, append or prepend, "
        "which a resend would apply again; not resent. Check the properties "
        "before resending this row (or pass resend_ambiguous=True to resend such rows)"
    )
    return tuple(Rejection(i, None, AMBIGUOUS_ADD, message) for i in indexes)


def _hold_back_accumulating(outcome: Outcome, batch: BatchView, status: int | None) -> Outcome:
    held = set(_accumulating(batch, outcome.resend))
    if not held:
        return outcome
    answer = "no answer (network error or timeout)" if status is None else f"HTTP {status}"
    failed = outcome.failed + _ambiguous_rows(sorted(held), answer)
    resend = tuple(i for i in outcome.resend if i not in held)
    if not resend:
        return replace(outcome, kind="partial", failed=failed, resend=(), throttled=())
    return replace(outcome, failed=failed, resend=resend)


FORM_IDENTIFY = FormWire()
