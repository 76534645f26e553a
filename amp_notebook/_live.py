"""Paced partitions: one queue and one send window per device that pacing may hold back.

Pure: time comes in as ``now``. The :class:`~._scheduler.Scheduler` keeps here the
devices that need state of their own: those with more events in the upload than
a window allows (issue 11: a few busy devices of a real export), those throttled
by Amplitude (paused, then paced strictly), and every device when no plan says
how many events each has. All other devices go through the array pool
(``_pool``) with no per-device objects.

Per partition: its pending events in arrival order, a :class:`SlidingWindow`, a
pause. Partitions with budget are served *most pending first* (the classic
longest-remaining-first rule, which meets ``busiest / device rate``), at most
``quantum`` events per pass, passes cycling until a request is full, so one busy
device does not fill a request while others are ready. A ready heap and a wait
heap keyed by ready time: idle or waiting partitions are never scanned.

Memory (issue 7): sent events are dropped from their queue (:meth:`_Partition.compact`);
a partition with nothing pending and nothing in flight goes dormant: only its
pause and its window's log are kept (~150-300 B and its key, instead of ~900 B);
that record is dropped once both are over (a new partition then allows exactly
the same); stale heap entries are pruned once they outnumber the partitions.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable
from operator import itemgetter
from typing import TypeVar

from ._throttle import NEVER_BEFORE, SlidingWindow

__all__ = ["LiveSet", "Rules"]

Rules = tuple[tuple[int, float], ...]
_T = TypeVar("_T", int, float)

# Partition states.
# _HELD: a request with its events is in flight; nothing more of it goes until
# done() (reference, "Event keys": user properties apply in arrival order, so a
# device's events must arrive in time order: one request in flight per device).
_IDLE, _READY, _WAITING, _BUSY, _HELD = 0, 1, 2, 3, 4


class _Partition:
    """One device's (or user's) queue: from ``head`` on, its pending events in arrival order.

    Parallel lists: ``seq`` (arrival number), ``pay`` (payload), ``pos`` (row
    position). Appending per event keeps a partition's payloads together, which
    makes taking them a slice.
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
        self.listed = False  # an entry for its key is in LiveSet._dormant_ends

    def pending(self) -> int:
        return len(self.seq) - self.head

    def compact(self) -> None:
        """Forget sent events (amortised O(1) each), dropping our references to their payloads.

        Sent events are never kept once they are at least half of the lists (all of
        them when nothing is pending): a partition with few events would otherwise
        hold every payload it ever sent until the end of the upload (issue 7).
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


class Taken:
    """What :meth:`LiveSet.take` added to a request: the events, and per partition
    ``[booked at, count]`` of its window entry (for the answer-time booking)."""

    __slots__ = ("booked", "par", "pay", "pos", "seqs", "size")

    def __init__(self) -> None:
        self.pos: list[int] = []
        self.pay: list[bytes] = []
        self.par: list[str] = []
        self.seqs: list[int] = []
        self.size = 0  # bytes, each event counted as len + 1
        self.booked: dict[str, list[float]] = {}


class LiveSet:
    """The paced partitions of one upload (see the module docstring).

    ``rules``: the window rules of a new partition; :meth:`set_rules` gives one
    partition rules of its own (kept while the upload lasts, also when dormant).
    ``hold``: a partition with a batch in flight gives nothing more until
    :meth:`done` (the upload loop's one-request-in-flight-per-device rule).
    """

    def __init__(self, rules: Rules, *, hold: bool) -> None:
        self.rules = rules
        self._hold = hold
        self._own_rules: dict[str, Rules] = {}
        self._parts: dict[str, _Partition] = {}
        self._ready: list[tuple[int, int, _Partition, int]] = []  # (-pending, tie, part, version)
        self._waiting: list[tuple[float, int, _Partition, int]] = []  # (ready time, tie, part, version)
        # Dormant partitions (nothing pending, nothing in flight) keep only what can
        # still change a decision: (paused_until, t1, n1, t2, n2, ...), their pause and
        # their window's log (SlidingWindow.log). Dropped once both are over:
        # _dormant_ends is a heap of (end, key), one entry per key (every record has
        # one; a woken partition keeps its entry, ``listed``, for when it sleeps
        # again); an entry found early is pushed again with its record's new end.
        self._dormant: dict[str, tuple[float, ...]] = {}
        self._dormant_ends: list[tuple[float, str]] = []
        self._tie = itertools.count()
        self.pending = 0
        self.bytes = 0  # payload bytes pending

    # -- input -------------------------------------------------------------------

    def add(self, seqs: Iterable[int], keys: Iterable[str], payloads: Iterable[bytes], positions: Iterable[int],
            nbytes: int, count: int) -> None:
        """Queue events (arrival order); ``nbytes`` / ``count``: their payload bytes and number."""
        parts = self._parts
        get = parts.get
        touched: dict[str, None] = {}
        # One dict lookup and three appends per event: events of a chunk spread over
        # many partitions, so grouping first would cost more than it saves.
        for s, key, payload, p in zip(seqs, keys, payloads, positions, strict=True):
            part = get(key)
            if part is None:
                part = self._wake(key)
            part.seq.append(s)
            part.pay.append(payload)
            part.pos.append(p)
            touched[key] = None
        self.pending += count
        self.bytes += nbytes
        for key in touched:
            part = parts[key]
            if part.state == _IDLE:
                self._wait(part)
            elif part.state == _READY and part.pending() >= 2 * part.prio:
                # Its priority key went stale; re-push only on doubling (amortised O(log n)).
                self._make_ready(part)

    def requeue(self, key: str, seqs: list[int], pays: list[bytes], poss: list[int], sent_at: float | None,
                *, refund: bool) -> int:
        """Give sent events (sorted by seq) back to the front of their partition; returns how
        many were refunded from its window."""
        part = self._parts.get(key)
        if part is None:
            # Dormant, or forgotten while the batch was in flight (its window had
            # expired, so a new partition is the same as the old one).
            part = self._wake(key)
        part.push_front(seqs, pays, poss)
        refunded = part.window.refund(sent_at, len(seqs)) if refund and sent_at is not None else 0
        self.pending += len(seqs)
        self.bytes += sum(map(len, pays))
        # The refund may have moved its ready time earlier: place it afresh.
        if part.state == _READY:
            self._make_ready(part)
        elif part.state != _HELD:  # a held one is placed by done()
            self._wait(part)
        return refunded

    def hold(self, key: str, batches: int) -> None:
        """``key`` has ``batches`` in flight that this set did not hand out (moved in from the pool)."""
        part = self._parts.get(key) or self._wake(key)
        part.inflight += batches
        if part.state in (_READY, _WAITING):
            part.version += 1  # out of the heaps until done()
            part.state = _HELD
        elif part.state == _IDLE:
            part.state = _HELD

    def done(self, key: str, now: float | None = None, booked: list[float] | None = None) -> None:
        """A batch holding ``key`` is settled: it may send again. With ``now`` and ``booked``
        (``[time, count]`` from :meth:`take`), its events are booked at ``now`` instead."""
        part = self._parts.get(key)
        if part is None:
            if booked is None or now is None or not booked[1]:
                return
            part = self._wake(key)  # dormant (no hold): rebook its record
        rebooked = booked is not None and now is not None and booked[1] > 0
        if rebooked:
            assert booked is not None and now is not None
            # The events reached the server before this answer came back: they count
            # in its window until ``now + window`` at the latest (module _throttle).
            part.window.refund(booked[0], int(booked[1]))
            part.window.record(now, int(booked[1]))
        if part.inflight:
            part.inflight -= 1
        if part.inflight == 0:
            if part.state in (_HELD, _IDLE):
                self._settle(part)
            elif rebooked and part.state in (_READY, _WAITING):
                self._wait(part)  # its ready time moved

    def pause(self, key: str, until: float) -> None:
        part = self._parts.get(key)
        if part is None:  # dormant or unknown: its record carries the pause
            record = self._dormant.get(key)
            self._keep_dormant(key, (until, *(record or (NEVER_BEFORE,))[1:]), listed=record is not None)
        else:
            part.paused_until = until
            if part.state in (_READY, _WAITING):
                self._wait(part)

    def paused_until(self, key: str) -> float:
        part = self._parts.get(key)
        if part is not None:
            return part.paused_until
        record = self._dormant.get(key)
        return record[0] if record is not None else NEVER_BEFORE

    def set_rules(self, key: str | None, rules: Rules, now: float, *, assume_sent: int = 0) -> None:
        """New rules for one partition (``key``), or for every partition without rules
        of its own (``None``). The window keeps its sends; ``assume_sent`` events are
        booked at ``now`` as well (sends this set did not see)."""
        if key is None:
            self.rules = rules
            targets = [p for k, p in self._parts.items() if k not in self._own_rules]
        else:
            self._own_rules[key] = rules
            part = self._parts.get(key)
            if part is None and (assume_sent or key in self._dormant):
                part = self._wake(key)
            targets = [part] if part is not None else []
        for part in targets:
            part.window = SlidingWindow.from_log(rules, part.window.log())
            if assume_sent:
                part.window.record(now, assume_sent)
            if part.state in (_READY, _WAITING):
                self._wait(part)
            elif part.state == _IDLE:
                self._settle(part)

    # -- queries -------------------------------------------------------------------

    def __contains__(self, key: str) -> bool:
        return key in self._parts

    def live(self) -> int:
        return len(self._parts)

    def records(self) -> int:
        return len(self._parts) + len(self._dormant)

    def ready_time(self, now: float) -> float | None:
        """``now`` when a partition can give now; else the earliest ready time; None when none waits."""
        self._promote(now)
        ready = self._ready
        while ready and ready[0][3] != ready[0][2].version:
            heapq.heappop(ready)
        if ready:
            return now
        waiting = self._waiting
        while waiting and waiting[0][3] != waiting[0][2].version:
            heapq.heappop(waiting)
        return waiting[0][0] if waiting else None

    # -- taking events ---------------------------------------------------------------

    def take(self, now: float, room: int, cap1: int, quantum: int, out: Taken) -> bool:
        """Add up to ``room`` events that may go at ``now`` to ``out`` (bytes within ``cap1``);
        True when the request is full by bytes."""
        if not self.pending:
            return False
        self._promote(now)
        ready = self._ready
        size = out.size
        visited: list[_Partition] = []
        active: list[_Partition] = []  # visited and still able to give more (for later passes)
        full = False
        first_pass = True
        taken = 0
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
                k = min(quantum, room, part.window.available(now), part.pending())
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
                    if k == 0 and not out.pay:
                        # Alone over a body limit lowered by shrink() (it passed the
                        # one it was added under): it goes in a request of its own.
                        k, j, n1 = 1, h + 1, len(got[0]) + 1
                    del got[k:]
                    full = True
                    if k == 0:
                        break
                out.pay += got
                out.pos += part.pos[h:j]
                out.seqs += part.seq[h:j]
                out.par += [part.key] * k
                size += n1
                part.head = j
                if k and self._hold and not part.inflight:
                    part.inflight = 1  # this batch holds it (see done())
                room -= k
                taken += k
                at = part.window.record(now, k)
                entry = out.booked.get(part.key)
                if entry is None:
                    out.booked[part.key] = [at, k]
                else:
                    entry[1] += k
                if part.pending() and part.window.available(now) > 0:
                    active.append(part)
        for part in visited:
            part.compact()
            self._settle(part)
        self.pending -= taken
        self.bytes -= size - out.size - taken
        out.size = size
        return full

    # -- partitions and heaps ----------------------------------------------------------

    def _wake(self, key: str) -> _Partition:
        """The partition for ``key``, live again: rebuilt from its dormant record, or new."""
        record = self._dormant.pop(key, None)
        rules = self._own_rules.get(key, self.rules)
        window = SlidingWindow(rules) if record is None else SlidingWindow.from_log(rules, record[1:])
        part = self._parts[key] = _Partition(key, window)
        if record is not None:
            part.paused_until = record[0]
            part.listed = True  # the record's entry stays in the heap
        return part

    def _sleep(self, part: _Partition) -> None:
        """A partition with nothing pending and nothing in flight: keep only its record.

        A live partition costs ~900 B, its record ~150-300 B (issue 7). The record
        rebuilds a partition that makes exactly the same decisions (:meth:`_wake`).
        """
        del self._parts[part.key]
        part.version += 1  # its heap entries are stale from now on
        log = part.window.log()
        if log or part.paused_until > NEVER_BEFORE:
            self._keep_dormant(part.key, (part.paused_until, *log), listed=part.listed)

    def _record_end(self, key: str, record: tuple[float, ...]) -> float:
        """When a dormant record stops mattering: its pause is over and its last send left every window."""
        if len(record) == 1:
            return record[0]
        longest = max(w for _, w in self._own_rules.get(key, self.rules))
        return max(record[0], record[-2] + longest)

    def _keep_dormant(self, key: str, record: tuple[float, ...], *, listed: bool) -> None:
        self._dormant[key] = record
        if not listed:
            heapq.heappush(self._dormant_ends, (self._record_end(key, record), key))

    def forget_dormant(self, now: float) -> None:
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
            end = self._record_end(key, record)
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
