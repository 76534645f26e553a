"""Events -> requests: exact request bodies, a static chunker, and the device-aware Scheduler.

Pure: no clock, no sleep, no IO. Time is passed in as float seconds.

Sizes (reference, "Request body" and "Limits"): a body is exactly
``{"api_key":<key>,"events":[<e1>,<e2>,...],"options":<options>}`` (``options``
left out when empty), so its length is ``envelope_size(...) + Batch.nbytes``
and both limits, events per request and body bytes, are checked on exact numbers.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TypeVar

import orjson

from ._config import Limits, Pacing
from ._encoding import EncodedChunk
from ._throttle import NEVER_BEFORE, SlidingWindow, TokenBucket, partition_rules

__all__ = ["Batch", "Oversize", "Scheduler", "chunk", "envelope_size"]

_T = TypeVar("_T", int, float)

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
    ``envelope_size(...) + nbytes`` bytes. ``seqs`` (arrival numbers) and
    ``sent_at`` are filled by :class:`Scheduler` so that :meth:`Scheduler.requeue`
    can restore order and refund the right window entry; :meth:`split` and
    :meth:`take` carry them over.
    """

    positions: list[int]
    payloads: list[bytes]
    partitions: list[str]
    nbytes: int = -1
    seqs: list[int] = field(default_factory=list)
    sent_at: float | None = None

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
        )

    def split(self) -> tuple[Batch, Batch]:
        """Two halves in order (the first gets the odd one), for a 413 (reference, "Responses")."""
        n = len(self.payloads)
        if n < 2:
            raise ValueError("cannot split a batch of fewer than 2 events")
        mid = (n + 1) // 2
        return self.take(range(mid)), self.take(range(mid, n))


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


# Partition states.
# _HELD: a request with its events is in flight; nothing more of it goes until
# done() (reference, "Event keys": user properties apply in arrival order, so a
# device's events must arrive in time order: one request in flight per device).
_IDLE, _READY, _WAITING, _BUSY, _HELD = 0, 1, 2, 3, 4


class _Partition:
    """One device's (or user's) queue: from ``head`` on, its pending events in arrival order.

    Parallel lists: ``seq`` (arrival number), ``pay`` (payload), ``pos`` (row
    position). Appending per event keeps a partition's payloads together, which
    makes taking them a slice (the payloads of one device are spread all over
    the input, and gathering them one by one at send time is memory-bound).
    """

    __slots__ = (
        "head", "inflight", "key", "listed", "paused_until", "pay", "pos", "prio", "seq", "state", "version",
        "window",
    )

    def __init__(self, key: str, window: SlidingWindow) -> None:
        self.key = key
        self.seq: list[int] = []
        self.pay: list[bytes] = []
        self.pos: list[int] = []
        self.head = 0
        self.window = window
        self.paused_until = NEVER_BEFORE
        self.state = _IDLE
        self.version = 0
        self.prio = 0  # pending count when last pushed on the ready heap
        self.inflight = 0  # batches taken from this partition and not yet done()
        self.listed = False  # an entry for its key is in Scheduler._dormant_ends

    def pending(self) -> int:
        return len(self.seq) - self.head

    def compact(self) -> None:
        """Forget sent events (amortised O(1) each), dropping our references to their payloads.

        Sent events are never kept once they are at least half of the lists (all of
        them when nothing is pending): a partition with few events would otherwise
        hold every payload it ever sent until the end of the upload (issue 7: about
        450 B per event, no ceiling, as most devices send fewer than 64 events).
        """
        h = self.head
        if h and h * 2 >= len(self.seq):
            del self.seq[:h], self.pay[:h], self.pos[:h]
            self.head = 0

    def ready_time(self) -> float:
        return max(self.paused_until, self.window.ready_time())

    def push_front(self, seq: list[int], pay: list[bytes], pos: list[int]) -> None:
        """Put events (sorted by seq) back before the pending ones, keeping arrival order overall."""
        h, m = self.head, len(seq)
        if h == len(self.seq) or seq[-1] < self.seq[h]:
            # Usual case: they all came before what is pending.
            if h >= m:  # reuse the sent slots
                lo = h - m
                self.seq[lo:h] = seq
                self.pay[lo:h] = pay
                self.pos[lo:h] = pos
                self.head = lo
            else:  # compacted away: insert before the pending ones
                self.seq[h:h] = seq
                self.pay[h:h] = pay
                self.pos[h:h] = pos
            return
        # Batches requeued out of order (or the slots are gone): merge by arrival number.
        rows = sorted(
            itertools.chain(
                zip(self.seq[h:], self.pay[h:], self.pos[h:], strict=True),
                zip(seq, pay, pos, strict=True),
            ),
            key=itemgetter(0),
        )
        self.seq = [r[0] for r in rows]
        self.pay = [r[1] for r in rows]
        self.pos = [r[2] for r in rows]
        self.head = 0


class Scheduler:
    """Device-aware request builder: which events go in the next request, and when.

    Pure: time comes in as ``now``. The upload loop does::

        while sched.pending() or in_flight:
            batch = sched.next_batch(now)
            if batch is None: sleep until sched.ready_at(now) (or a response)
            ...on 429: sched.pause({partition: now + 30}); sched.requeue(part_of_batch)

    Pacing (module :mod:`._throttle`): each partition (device_id, else
    "user:" + user_id; reference "Limits") sends at most
    ``C = floor(device_eps * safety * window_s)`` events in any ``window_s`` of
    send time and at most ``ceil(C * burst_s / window_s)`` in any ``burst_s``;
    optional project buckets cap events/s and requests/s. Paused partitions send
    nothing until their resume time.

    Choice (why not plain round-robin): under a project cap the request slots are
    the scarce resource, and the finish time is set by the busiest device. So
    partitions with budget now are served *most pending first* (the classic
    longest-remaining-first rule, which meets ``max(events / project rate,
    busiest / device rate)``), and within one request each partition gives at
    most ``quantum`` events per pass, passes cycling until the request is full:
    one busy device does not fill a request while others are ready.

    Ordering guarantee: per partition, events leave in arrival order (the order
    of ``add``), and within a batch a partition's events are in that order. The
    pending queue of a partition is always in arrival order, also after
    ``requeue`` (requeued events go before everything pending that arrived after
    them, whatever order batches are requeued in). What is *not* guaranteed: a
    later event may be sent while an earlier one of the same partition is in
    flight in another request, so if that earlier request fails and is requeued,
    the server sees the later event first. (The scheduler has no "done" signal;
    Amplitude orders by each event's ``time``, not by arrival.)

    Cost: ``add`` is O(events); ``next_batch`` is O(events taken + partitions
    visited * log partitions) and never scans idle or waiting partitions (a
    ready heap and a wait heap keyed by ready time).

    Memory (issue 7: an upload must stream): what the scheduler holds is bounded
    by what is pending plus a small record per partition sent to within the
    last window, not by the events seen so far. Sent events are dropped from
    their partition's queue (:meth:`_Partition.compact`); a partition with
    nothing pending and nothing in flight goes dormant: only its pause and its
    window's log are kept (~150 B and its key, instead of ~900 B); that record is
    dropped once both are over (a new partition then allows exactly the same);
    stale heap entries are pruned once they outnumber the partitions.
    ``pending_bytes`` lets the caller bound the look-ahead by size.
    """

    def __init__(
        self,
        limits: Limits,
        pacing: Pacing,
        envelope: int,
        *,
        quantum: int | None = None,
        burst_s: float | str | None = "auto",
        hold_in_flight: bool = False,
    ) -> None:
        # "auto": a thirtieth of the window (1 s for Amplitude's 30 s), so the rule
        # scales with windows shrunk for tests and benchmarks.
        if burst_s == "auto":
            burst_s = pacing.window_s / 30.0
        self.limits = limits
        # hold_in_flight: a partition with a batch in flight gives nothing more until
        # done(batch), so each device's events arrive in order (the upload loop sets it).
        self._hold = hold_in_flight
        self.pacing = pacing
        self.envelope = envelope
        # Bytes available to events, counting each as len + 1 (its comma, or the one
        # the last event saves). _hard_cap1 decides Oversize; _cap1 may be lowered by shrink().
        self._hard_cap1 = self._cap1 = limits.max_body_bytes - envelope + 1
        self._max_events = limits.max_events
        self._quantum = quantum if quantum is not None else max(1, math.ceil(limits.max_events / 8))
        self._rules = partition_rules(
            pacing.device_eps, pacing.window_s, pacing.safety, burst_s if isinstance(burst_s, float | int) else None
        )
        self._rps: TokenBucket | None = None
        self._eps: TokenBucket | None = None
        if pacing.project_rps is not None:
            self._rps = TokenBucket.per_second(pacing.project_rps, pacing.safety)
        if pacing.project_eps is not None:
            # At least one request's share of events, so the two buckets can run at full rate.
            share = (
                pacing.project_eps / pacing.project_rps if pacing.project_rps is not None else 1.0
            )
            self._eps = TokenBucket.per_second(pacing.project_eps, pacing.safety, min_capacity=share)
        self._want = self._max_events
        if self._eps is not None:
            self._want = max(1, min(self._max_events, math.floor(self._eps.capacity + 1e-9)))
        self._parts: dict[str, _Partition] = {}
        self._ready: list[tuple[int, int, _Partition, int]] = []  # (-pending, tie, part, version)
        self._waiting: list[tuple[float, int, _Partition, int]] = []  # (ready time, tie, part, version)
        self._pauses: list[tuple[float, int, str]] = []
        self._paused: set[str] = set()
        # Dormant partitions (nothing pending, nothing in flight) keep only what can
        # still change a decision: (paused_until, t1, n1, t2, n2, ...), their pause and
        # their window's log (SlidingWindow.log). Dropped once both are over:
        # _dormant_ends is a heap of (end, key), one entry per key (every record has
        # one; a woken partition keeps its entry, ``listed``, for when it sleeps
        # again); an entry found early is pushed again with its record's new end.
        self._dormant: dict[str, tuple[float, ...]] = {}
        self._dormant_ends: list[tuple[float, str]] = []
        self._longest = max(w for _, w in self._rules)
        self._tie = itertools.count()
        self._seq = 0  # arrival numbers
        self._pending = 0
        self._bytes = 0  # payload bytes pending

    # -- input -------------------------------------------------------------

    def add(self, chunk: EncodedChunk) -> list[Oversize]:
        """Queue a chunk's events (arrival order = chunk order). Returns the oversize ones, not queued."""
        payloads = chunk.payloads
        keys = chunk.partitions
        positions = chunk.positions.tolist()
        if not (len(payloads) == len(keys) == len(positions)):
            raise ValueError("an EncodedChunk needs as many positions and partitions as payloads")
        base = self._seq
        self._seq += len(payloads)
        seqs: Iterable[int] = range(base, base + len(payloads))
        cap1 = self._hard_cap1
        oversize: list[Oversize] = []
        lengths = list(map(len, payloads))
        nbytes = sum(lengths)
        if max(lengths, default=0) + 1 > cap1:
            keep = [i for i, p in enumerate(payloads) if len(p) + 1 <= cap1]
            oversize = [
                Oversize(int(positions[i]), len(p)) for i, p in enumerate(payloads) if len(p) + 1 > cap1
            ]
            seqs = [base + i for i in keep]
            payloads = [payloads[i] for i in keep]
            keys = [keys[i] for i in keep]
            positions = [positions[i] for i in keep]
            nbytes = sum(map(len, payloads))
        parts = self._parts
        get = parts.get
        # One dict lookup and three appends per event: events of a chunk spread over
        # many partitions, so grouping first would cost more than it saves.
        for s, key, payload, p in zip(seqs, keys, payloads, positions, strict=True):
            part = get(key)
            if part is None:
                part = self._wake(key)
            part.seq.append(s)
            part.pay.append(payload)
            part.pos.append(p)
        self._pending += len(payloads)
        self._bytes += nbytes
        for key in dict.fromkeys(keys):
            part = parts[key]
            if part.state == _IDLE:
                self._wait(part)
            elif part.state == _READY and part.pending() >= 2 * part.prio:
                # Its priority key went stale; re-push only on doubling (amortised O(log n)).
                self._make_ready(part)
        return oversize

    def requeue(self, batch: Batch, *, refund: bool = True) -> None:
        """Give the events of a sent batch back: to the front of their partitions, in arrival order.

        ``refund``: the send did not count against the partitions' windows (e.g.
        a 429, a 413, a 503); pass False when the server may have counted them
        (5xx, timeouts). Project buckets are never refunded (the request was made).
        """
        if len(batch.seqs) != len(batch.payloads):
            raise ValueError("requeue takes batches made by this Scheduler (or their split/take)")
        groups: dict[str, list[int]] = {}
        for i, key in enumerate(batch.partitions):
            groups.setdefault(key, []).append(i)
        for key, idx in groups.items():
            part = self._parts.get(key)
            if part is None:
                # Dormant, or forgotten while the batch was in flight (its window
                # had expired, so a new partition is the same as the old one).
                part = self._wake(key)
            idx.sort(key=batch.seqs.__getitem__)
            part.push_front(
                [batch.seqs[i] for i in idx],
                [batch.payloads[i] for i in idx],
                [batch.positions[i] for i in idx],
            )
            if refund and batch.sent_at is not None:
                part.window.refund(batch.sent_at, len(idx))
            self._pending += len(idx)
            self._bytes += sum(len(batch.payloads[i]) for i in idx)
            # The refund may have moved its ready time earlier: place it afresh.
            if part.state == _READY:
                self._make_ready(part)
            elif part.state != _HELD:  # a held one is placed by done()
                self._wait(part)

    def done(self, batch: Batch) -> None:
        """The events of a batch from next_batch are settled, or back in the queue
        (requeue first): its partitions may send again. Call once per batch that
        next_batch returned (a split or partial resend is still the same batch)."""
        parts = self._parts
        for key in dict.fromkeys(batch.partitions):
            part = parts.get(key)
            if part is None or part.inflight == 0:
                continue
            part.inflight -= 1
            if part.inflight == 0 and part.state == _HELD:
                self._settle(part)

    def pause(self, partitions: Mapping[str, float]) -> None:
        """Send nothing for these partitions before the given absolute times (a 429)."""
        for key, until in partitions.items():
            part = self._parts.get(key)
            if until <= self._paused_until(key):
                continue
            if part is None:  # dormant or unknown: its record carries the pause
                record = self._dormant.get(key)
                self._keep_dormant(key, (until, *(record or (NEVER_BEFORE,))[1:]), listed=record is not None)
            else:
                part.paused_until = until
                if part.state in (_READY, _WAITING):
                    self._wait(part)
            heapq.heappush(self._pauses, (until, next(self._tie), key))
            self._paused.add(key)

    def shrink(self, *, max_body_bytes: int | None = None, max_events: int | None = None) -> None:
        """Lower the limits for the batches built from now on (never raises them).

        For a 413 (reference, "Responses": split the batch and resend): the
        server's real limit is below ours, so later requests should be smaller
        too. An event that alone no longer fits the lowered body limit (it did fit
        the one the Scheduler was made with) is sent in a request of its own.
        """
        if max_body_bytes is not None:
            self._cap1 = max(1, min(self._cap1, max_body_bytes - self.envelope + 1))
        if max_events is not None:
            self._max_events = max(1, min(self._max_events, max_events))
            self._want = min(self._want, self._max_events)

    # -- queries -----------------------------------------------------------

    def pending(self) -> int:
        """Events waiting to be handed out (added or requeued, not in a batch from next_batch)."""
        return self._pending

    def pending_bytes(self) -> int:
        """The payload bytes of the pending events (commas and envelope not counted)."""
        return self._bytes

    def partitions(self) -> int:
        """Partitions the scheduler holds state for (pending, paused, or sent to within a window)."""
        return len(self._parts) + len(self._dormant)

    def live_partitions(self) -> int:
        """Partitions with events pending or in flight (the others are dormant records)."""
        return len(self._parts)

    def paused(self, now: float) -> int:
        """How many partitions are paused at ``now``."""
        pauses = self._pauses
        while pauses and pauses[0][0] <= now:
            _, _, key = heapq.heappop(pauses)
            if self._paused_until(key) <= now:  # not paused again since
                self._paused.discard(key)
        return len(self._paused)

    def ready_at(self, now: float) -> float | None:
        """The earliest time (>= now) at which next_batch gives a batch; None when nothing is pending.

        Events in flight are not pending: with none pending this is None even
        though a requeue may come later.
        """
        if not self._pending:
            return None
        self._promote(now)
        ready = self._ready
        while ready and ready[0][3] != ready[0][2].version:
            heapq.heappop(ready)
        if ready:
            t = now
        else:
            waiting = self._waiting
            while waiting and waiting[0][3] != waiting[0][2].version:
                heapq.heappop(waiting)
            if not waiting:  # cannot happen: every partition with pending events is in a heap
                return None
            t = waiting[0][0]
        if self._rps is not None:
            t = max(t, self._rps.time_for(1, now))
        if self._eps is not None:
            t = max(t, self._eps.time_for(min(self._want, self._pending), now))
        return max(t, now)

    # -- the request builder -------------------------------------------------

    def next_batch(self, now: float) -> Batch | None:
        """One request's worth of events that may be sent at ``now``, or None."""
        self._forget_dormant(now)
        if not self._pending:
            return None
        room = self._max_events
        if self._rps is not None and not self._rps.has(1, now):
            return None
        if self._eps is not None:
            # Wait for a full request's worth of tokens (or all that is pending), so
            # a caller polling often does not get a stream of tiny requests.
            if not self._eps.has(min(self._want, self._pending), now):
                return None
            room = min(room, math.floor(self._eps.tokens(now) + 1e-9))
        self._promote(now)
        ready = self._ready
        q = self._quantum
        cap1 = self._cap1
        size = 0
        pos: list[int] = []
        pay: list[bytes] = []
        par: list[str] = []
        seqs: list[int] = []
        visited: list[_Partition] = []
        active: list[_Partition] = []  # visited and still able to give more (for later passes)
        full = False
        first_pass = True
        while room > 0 and not full:
            if first_pass:
                if not ready:
                    first_pass = False
                    continue
                _, _, part, version = heapq.heappop(ready)
                if version != part.version:
                    continue
                part.state = _BUSY
                visited.append(part)
                todo = [part]
            else:
                if not active:
                    break
                todo, active = active, []
            for part in todo:
                if room <= 0:
                    break
                k = min(q, room, part.window.available(now), part.pending())
                if k <= 0:  # defensive: a ready partition always has events and budget
                    continue
                h = part.head
                j = h + k
                got = part.pay[h:j]
                n1 = sum(map(len, got)) + k
                if size + n1 > cap1:
                    # Not all fit in the bytes left: the longest prefix that does.
                    n1 = 0
                    for i, payload in enumerate(got):
                        if size + n1 + len(payload) + 1 > cap1:
                            k, j = i, h + i
                            break
                        n1 += len(payload) + 1
                    if k == 0 and not pay:
                        # Alone over a body limit lowered by shrink() (it passed the
                        # one it was added under): it goes in a request of its own.
                        k, j, n1 = 1, h + 1, len(got[0]) + 1
                    del got[k:]
                    full = True
                    if k == 0:
                        break
                pay += got
                pos += part.pos[h:j]
                seqs += part.seq[h:j]
                par += [part.key] * k
                size += n1
                part.head = j
                if k and self._hold and not part.inflight:
                    part.inflight = 1  # this batch holds it (see done())
                room -= k
                part.window.record(now, k)
                if part.pending() and part.window.available(now) > 0:
                    active.append(part)
        if not pay:
            for part in visited:
                self._settle(part)
            return None
        for part in visited:
            part.compact()
            self._settle(part)
        n = len(pay)
        self._pending -= n
        self._bytes -= size - n
        if self._rps is not None:
            self._rps.take(1, now)
        if self._eps is not None:
            self._eps.take(n, now)
        return Batch(pos, pay, par, size - 1, seqs, now)

    # -- heaps -----------------------------------------------------------------

    def _wake(self, key: str) -> _Partition:
        """The partition for ``key``, live again: rebuilt from its dormant record, or new."""
        record = self._dormant.pop(key, None)
        if record is None:
            window = SlidingWindow(self._rules)
        else:
            window = SlidingWindow.from_log(self._rules, record[1:])
        part = self._parts[key] = _Partition(key, window)
        if record is not None:
            part.paused_until = record[0]
            part.listed = True  # the record's entry stays in the heap
        return part

    def _paused_until(self, key: str) -> float:
        part = self._parts.get(key)
        if part is not None:
            return part.paused_until
        record = self._dormant.get(key)
        return record[0] if record is not None else NEVER_BEFORE

    def _sleep(self, part: _Partition) -> None:
        """A partition with nothing pending and nothing in flight: keep only its record.

        Most devices of a large frame send a few events now and then; a live
        partition costs ~900 B, its record ~150 B (issue 7: 10 million rows over
        500,000 devices held 420,000 partitions, 400 MB). The record rebuilds a
        partition that makes exactly the same decisions (:meth:`_wake`).
        """
        del self._parts[part.key]
        part.version += 1  # its heap entries are stale from now on
        log = part.window.log()
        if log or part.paused_until > NEVER_BEFORE:
            self._keep_dormant(part.key, (part.paused_until, *log), listed=part.listed)

    def _record_end(self, record: tuple[float, ...]) -> float:
        """When a dormant record stops mattering: its pause is over and its last send left every window."""
        return max(record[0], record[-2] + self._longest) if len(record) > 1 else record[0]

    def _keep_dormant(self, key: str, record: tuple[float, ...], *, listed: bool) -> None:
        self._dormant[key] = record
        if not listed:
            heapq.heappush(self._dormant_ends, (self._record_end(record), key))

    def _forget_dormant(self, now: float) -> None:
        """Drop the records that are over: a new partition would make the same decisions.

        One heap entry per key, not one per time a key went dormant (a device that
        sleeps and wakes every few seconds would leave an entry each time).
        """
        ends, dormant = self._dormant_ends, self._dormant
        while ends and ends[0][0] <= now:
            _, key = heapq.heappop(ends)
            record = dormant.get(key)
            if record is None:  # live again (or nothing to keep): it has no entry now
                part = self._parts.get(key)
                if part is not None:
                    part.listed = False
                continue
            end = self._record_end(record)
            if end <= now:
                del dormant[key]
            else:  # slept again (or paused) since: later
                heapq.heappush(ends, (end, key))

    def _settle(self, part: _Partition) -> None:
        if part.inflight:
            part.version += 1  # out of the heaps until done()
            part.state = _HELD
            return
        if part.pending() == 0:
            part.state = _IDLE
            self._sleep(part)
        else:
            self._wait(part)

    def _make_ready(self, part: _Partition) -> None:
        part.version += 1
        part.state = _READY
        part.prio = part.pending()
        heapq.heappush(self._ready, (-part.prio, next(self._tie), part, part.version))
        self._prune()

    def _wait(self, part: _Partition) -> None:
        # Waiting until its ready time, which may already be past: _promote moves it on.
        ready_time = part.ready_time()
        if ready_time == NEVER_BEFORE:
            # Not paused, budget left (most new devices): ready now, without a
            # round through the waiting heap.
            self._make_ready(part)
            return
        part.version += 1
        part.state = _WAITING
        heapq.heappush(self._waiting, (ready_time, next(self._tie), part, part.version))
        self._prune()

    def _prune(self) -> None:
        """Drop stale heap entries once they outnumber the partitions (amortised O(1) per push).

        Entries go stale when a partition is re-pushed (priority doubled, pause,
        requeue); stale ones with a low priority or a late time can sit in the
        heap for the whole upload. Each partition has at most one live entry, so
        a rebuild at least halves the heaps. In place: callers hold references.
        """
        if len(self._ready) + len(self._waiting) <= 2 * len(self._parts) + 1024:
            return
        _keep_live(self._ready)
        _keep_live(self._waiting)

    def _promote(self, now: float) -> None:
        waiting = self._waiting
        while waiting and waiting[0][0] <= now:
            _, _, part, version = heapq.heappop(waiting)
            if version != part.version:
                continue
            if part.paused_until <= now and part.window.available(now) > 0:
                self._make_ready(part)
            else:
                # Cannot happen (ready times are computed with the same arithmetic as
                # the expiry); if it did, wait a moment rather than spin.
                part.version += 1
                later = max(part.ready_time(), math.nextafter(now, math.inf))
                heapq.heappush(waiting, (later, next(self._tie), part, part.version))


def _keep_live(heap: list[tuple[_T, int, _Partition, int]]) -> None:
    """Keep the entries whose version is their partition's current one; still a heap, same list."""
    heap[:] = [e for e in heap if e[3] == e[2].version]
    heapq.heapify(heap)
