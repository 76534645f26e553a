"""Events -> requests: exact request bodies and a static chunker.

Pure: no clock, no sleep, no IO. The device-aware request builder is
:class:`~._scheduler.Scheduler`; it makes the same :class:`Batch` values.

Sizes (reference, "Request body" and "Limits"): a body is exactly
``{"api_key":<key>,"events":[<e1>,<e2>,...],"options":<options>}`` (``options``
left out when empty), so its length is ``envelope_size(...) + Batch.nbytes``
and both limits, events per request and body bytes, are checked on exact numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from ._config import Limits
from ._encoding import EncodedChunk

__all__ = ["Batch", "Oversize", "chunk", "envelope_size"]

_HEAD = b'{"api_key":'
_EVENTS = b',"events":['
_OPTIONS = b'],"options":'


def _dumps(value: object) -> bytes:
    return orjson.dumps(value)


def _options_bytes(options: Mapping[str, object] | None) -> bytes:
    # Reference, "Request body": "options" is optional; an empty one is left out.
    if not options:
        return b""
    return _dumps(dict(options))


def envelope_size(api_key_length: int | str, options: Mapping[str, object] | None = None) -> int:
    """Bytes of the request body around the events (the body of an empty batch).

    ``api_key_length``: the byte length of the key as JSON-escaped by orjson,
    without quotes (equal to ``len(key)`` for ordinary hex keys); or the key
    itself (a ``str``) to have it measured exactly.
    """
    if isinstance(api_key_length, str):
        api_key_length = len(_dumps(api_key_length)) - 2
    opts = _options_bytes(options)
    # {"api_key":  "key"  ,"events":[  ]  [,"options":{...}]  }
    return len(_HEAD) + api_key_length + 2 + len(_EVENTS) + 1 + (len(_OPTIONS) - 1 + len(opts) if opts else 0) + 1


@dataclass(frozen=True, slots=True)
class Oversize:
    """One event that alone makes a body over the size limit: a row failure, not a crash."""

    position: int
    nbytes: int  # the event's own JSON size


@dataclass(slots=True)
class Batch:
    """The events of one request, in send order.

    ``nbytes`` = sum of payload sizes + the commas between them, so the body is
    ``envelope_size(...) + nbytes`` bytes. ``seqs`` (arrival numbers), ``sent_at``
    and ``flight`` are filled by the Scheduler so that its ``requeue`` and ``done``
    can restore order, refund and rebook the right window entries; :meth:`split`
    and :meth:`take` carry them over.
    """

    positions: list[int]
    payloads: list[bytes]
    partitions: list[str]
    nbytes: int = -1
    seqs: list[int] = field(default_factory=list)
    sent_at: float | None = None
    flight: int = -1

    def __post_init__(self) -> None:
        if self.nbytes < 0:
            self.nbytes = _nbytes(self.payloads)

    def __len__(self) -> int:
        return len(self.payloads)

    def body(self, api_key: str, options: Mapping[str, object] | None = None) -> bytes:
        """The exact request body. Built by joining bytes: events are not parsed again."""
        opts = _options_bytes(options)
        parts = [_HEAD, _dumps(api_key), _EVENTS, b",".join(self.payloads)]
        if opts:
            parts += [_OPTIONS, opts, b"}"]
        else:
            parts.append(b"]}")
        return b"".join(parts)

    def take(self, indexes: Sequence[int]) -> Batch:
        """A batch of the events at ``indexes`` (batch indexes, in the order given)."""
        idx = list(indexes)
        return Batch(
            [self.positions[i] for i in idx],
            [self.payloads[i] for i in idx],
            [self.partitions[i] for i in idx],
            seqs=[self.seqs[i] for i in idx] if self.seqs else [],
            sent_at=self.sent_at,
            flight=self.flight,
        )

    def split(self) -> tuple[Batch, Batch]:
        """Two halves in order (the first gets the odd one), for a 413 (reference, "Responses")."""
        n = len(self.payloads)
        if n < 2:
            raise ValueError("cannot split a batch of fewer than 2 events")
        mid = (n + 1) // 2
        return self.take(range(mid)), self.take(range(mid, n))

    def pieces(self, max_nbytes: int, max_events: int) -> list[Batch]:
        """In order, the fewest even pieces that fit ``max_nbytes`` / ``max_events`` (an event
        alone over ``max_nbytes`` is a piece of its own): a batch built before a 413
        taught a lower limit is cut to it before it is sent (issue 11)."""
        n = len(self.payloads)
        if self.nbytes <= max_nbytes and n <= max_events:
            return [self]
        sizes = [len(p) + 1 for p in self.payloads]
        k = max(-(-(self.nbytes + 1) // (max_nbytes + 1)), -(-n // max_events), 2)
        while k < n:
            bounds = [n * i // k for i in range(k + 1)]
            if all(sum(sizes[a:b]) - 1 <= max_nbytes for a, b in itertools.pairwise(bounds)):
                return [self.take(range(a, b)) for a, b in itertools.pairwise(bounds)]
            k += 1
        return [self.take([i]) for i in range(n)]


def _nbytes(payloads: Sequence[bytes]) -> int:
    return sum(map(len, payloads)) + max(0, len(payloads) - 1)


def chunk(chunks: Iterable[EncodedChunk], limits: Limits, envelope: int) -> Iterator[Batch | Oversize]:
    """Static, order-keeping chunker (dry runs, simple cases).

    Concatenating the yielded batches gives every event in input order, minus the
    oversize ones, which are yielded as :class:`Oversize` where they were met.
    Every batch has at most ``limits.max_events`` events and a body of at most
    ``limits.max_body_bytes`` bytes (envelope and commas included).
    """
    # Each event costs len + 1 (its comma, or the one it saves on the last event).
    cap1 = limits.max_body_bytes - envelope + 1
    max_events = limits.max_events
    pos: list[int] = []
    pay: list[bytes] = []
    par: list[str] = []
    size = 0
    for c in chunks:
        for p, payload, key in zip(c.positions.tolist(), c.payloads, c.partitions, strict=True):
            n = len(payload) + 1
            if n > cap1:
                yield Oversize(int(p), n - 1)
                continue
            if len(pay) >= max_events or size + n > cap1:
                yield Batch(pos, pay, par, size - 1)
                pos, pay, par, size = [], [], [], 0
            pos.append(p)
            pay.append(payload)
            par.append(key)
            size += n
    if pay:
        yield Batch(pos, pay, par, size - 1)
