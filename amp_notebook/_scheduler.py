"""The device-aware request builder: which events go in the next request, and when.

Pure: no clock, no sleep, no IO; time comes in as ``now``. The upload loop does::

    while sched.pending() or in_flight:
        batch = sched.next_batch(now)
        if batch is None: sleep until sched.ready_at(now) (or a response)
        ...on 429: sched.pause({partition: now + 30}); sched.tighten(...); sched.requeue(part_of_batch)
        ...when a batch is settled (after its retries): sched.done(batch, now)

Pacing (module ``_throttle``): each partition (device_id, else "user:" + user_id;
reference "Limits") sends at most ``C = floor(device_eps * safety * window_s)``
events in any window, booked when their answer came back; strict partitions also
at most a thirtieth of that per thirtieth of the window. Optional project buckets
cap events/s and requests/s (Starter). Paused partitions send nothing until their
resume time.

Two kinds of partitions (issue 11: cost per request, not per event or device):

- the cold pool (``_pool``): devices that no rule can hold back, because the
  upload's :class:`~._plan.PartitionPlan` says they have no more events in all
  than the smallest cap of the rules. No per-device objects: arrays, taken in
  bulk, whole devices per request.
- paced partitions (``_live``): devices with more events than a window allows,
  devices throttled by Amplitude (and from then on paced strictly), and every
  device when there is no plan. Served most pending first, ``quantum`` events
  per pass, before the pool fills what room is left.

Ordering guarantee: per partition, events leave in arrival order (the order of
``add``), also after ``requeue`` (requeued events go before everything pending
that arrived after them, whatever order batches are requeued in). With
``hold_in_flight`` a partition with a batch in flight gives nothing more until
``done``, so its events also *arrive* in order across retries and 413 splits.

Memory (issue 7): bounded by what is pending, a record per paced partition sent to
within its window, and three bytes per device of the plan; sent payloads are
never kept. ``pending_bytes`` lets the caller bound the look-ahead by size.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ._batching import Batch, Oversize
from ._config import Limits, Pacing
from ._encoding import EncodedChunk
from ._live import LiveSet, Rules, Taken
from ._plan import PartitionPlan
from ._pool import ColdPool
from ._throttle import NEVER_BEFORE, TokenBucket, pacing_rules, smallest_cap

__all__ = ["Scheduler"]


@dataclass(slots=True)
class _Flight:
    """A batch from next_batch, until done(): the pool devices it holds, and per paced
    partition ``[booked at, events still counted]`` for the answer-time booking."""

    codes: np.ndarray  # sorted
    booked: dict[str, list[float]]
    keys: list[str]  # the batch's partitions (to name a held pool device)


class Scheduler:
    """Device-aware request builder (see the module docstring)."""

    def __init__(
        self,
        limits: Limits,
        pacing: Pacing,
        envelope: int,
        *,
        quantum: int | None = None,
        hold_in_flight: bool = False,
        plan: PartitionPlan | None = None,
    ) -> None:
        self.limits = limits
        self.pacing = pacing
        self.envelope = envelope
        self._hold = hold_in_flight
        # Bytes available to events, counting each as len + 1 (its comma, or the one
        # the last event saves). _hard_cap1 decides Oversize; _cap1 may be lowered by shrink().
        self._hard_cap1 = self._cap1 = limits.max_body_bytes - envelope + 1
        self._max_events = limits.max_events
        self._quantum = quantum if quantum is not None else max(1, math.ceil(limits.max_events / 8))
        rules = pacing_rules(pacing.device_eps, pacing.window_s, pacing.safety, strict=pacing.strict)
        self._live = LiveSet(rules, hold=hold_in_flight)
        self._rps: TokenBucket | None = None
        self._eps: TokenBucket | None = None
        if pacing.project_rps is not None:
            self._rps = TokenBucket.per_second(pacing.project_rps, pacing.safety)
        if pacing.project_eps is not None:
            # At least one request's share of events, so the two buckets can run at full rate.
            share = pacing.project_eps / pacing.project_rps if pacing.project_rps is not None else 1.0
            self._eps = TokenBucket.per_second(pacing.project_eps, pacing.safety, min_capacity=share)
        self._want = self._max_events
        if self._eps is not None:
            self._want = max(1, min(self._max_events, math.floor(self._eps.capacity + 1e-9)))
        self._plan = plan
        self._pool: ColdPool | None = None
        self._paced = np.zeros(0, dtype=bool)  # by device code: paced one by one (in _live)
        if plan is not None:
            self._pool = ColdPool(len(plan), hold=hold_in_flight)
            self._paced = plan.totals > smallest_cap(rules)
        self._pool_pauses: dict[int, float] = {}  # device code -> paused until
        self._pool_pause_ends: list[tuple[float, int]] = []
        self._moved_busy: dict[int, str] = {}  # pool devices moved to _live while in flight
        self._pauses: list[tuple[float, int, str]] = []
        self._paused: set[str] = set()
        self._tightened: set[str] = set()
        self._tight_all = False
        self._flights: dict[int, _Flight] = {}
        self._flight_ids = itertools.count()
        self._tie = itertools.count()
        self._seq = 0  # arrival numbers

    # -- input -------------------------------------------------------------------------

    def add(self, chunk: EncodedChunk) -> list[Oversize]:
        """Queue a chunk's events (arrival order = chunk order). Returns the oversize ones, not queued."""
        payloads, keys = chunk.payloads, chunk.partitions
        positions = np.asarray(chunk.positions, dtype=np.int64)
        if not (len(payloads) == len(keys) == len(positions)):
            raise ValueError("an EncodedChunk needs as many positions and partitions as payloads")
        n = len(payloads)
        seqs = np.arange(self._seq, self._seq + n, dtype=np.int64)
        self._seq += n
        lengths = np.fromiter(map(len, payloads), dtype=np.int64, count=n)
        oversize: list[Oversize] = []
        if n and int(lengths.max()) + 1 > self._hard_cap1:
            over = lengths + 1 > self._hard_cap1
            oversize = [Oversize(int(positions[i]), int(lengths[i])) for i in np.flatnonzero(over).tolist()]
            keep = np.flatnonzero(~over)
            payloads, keys = _gather(payloads, keep), _gather(keys, keep)
            seqs, positions, lengths = seqs[keep], positions[keep], lengths[keep]
        if self._pool is None or self._plan is None:
            self._live.add(seqs.tolist(), keys, payloads, positions.tolist(), int(lengths.sum()), len(keys))
            return oversize
        codes = self._plan.codes(keys)
        to_live = codes < 0
        to_live |= self._paced[np.maximum(codes, 0)]
        if not to_live.any():
            self._pool.add(codes, seqs, positions, lengths, payloads, keys)
            return oversize
        live, cold = np.flatnonzero(to_live), np.flatnonzero(~to_live)
        self._live.add(seqs[live].tolist(), _gather(keys, live), _gather(payloads, live),
                       positions[live].tolist(), int(lengths[live].sum()), len(live))
        self._pool.add(codes[cold], seqs[cold], positions[cold], lengths[cold],
                       _gather(payloads, cold), _gather(keys, cold))
        return oversize

    def requeue(self, batch: Batch, *, refund: bool = True) -> None:
        """Give the events of a sent batch back: to the front of their partitions, in arrival order.

        ``refund``: the send did not count against the partitions' windows (e.g.
        a 429, a 413, a 503); pass False when the server may have counted them
        (5xx, timeouts). Project buckets are never refunded (the request was made).
        """
        if len(batch.seqs) != len(batch.payloads):
            raise ValueError("requeue takes batches made by this Scheduler (or their split/take)")
        flight = self._flights.get(batch.flight)
        groups: dict[str, list[int]] = {}
        for i, key in enumerate(batch.partitions):
            groups.setdefault(key, []).append(i)
        cold: list[int] = []
        codes = self._codes(list(groups))
        for (key, idx), code in zip(groups.items(), codes.tolist(), strict=True):
            if code >= 0 and not self._paced[code]:
                cold += idx
                continue
            idx.sort(key=batch.seqs.__getitem__)
            booked = flight.booked.get(key) if flight is not None else None
            at = booked[0] if booked is not None else batch.sent_at
            refunded = self._live.requeue(
                key, [batch.seqs[i] for i in idx], [batch.payloads[i] for i in idx],
                [batch.positions[i] for i in idx], at, refund=refund,
            )
            if booked is not None:
                booked[1] -= refunded
        if cold:
            assert self._pool is not None and self._plan is not None
            keys = [batch.partitions[i] for i in cold]
            pays = [batch.payloads[i] for i in cold]
            self._pool.add(
                self._plan.codes(keys), np.asarray([batch.seqs[i] for i in cold], dtype=np.int64),
                np.asarray([batch.positions[i] for i in cold], dtype=np.int64),
                np.fromiter(map(len, pays), dtype=np.int64, count=len(pays)), pays, keys,
            )

    def done(self, batch: Batch, now: float | None = None) -> None:
        """The events of a batch from next_batch are settled, or back in the queue
        (requeue first): its partitions may send again. Call once per batch that
        next_batch returned (a split or partial resend is still the same batch).

        ``now``: when the last answer came back; the batch's events then count in
        their partitions' windows from ``now`` (they arrived before it), which keeps
        a device's next window clear of this one whatever the latency.
        """
        flight = self._flights.pop(batch.flight, None)
        if flight is None:
            for key in dict.fromkeys(batch.partitions):
                self._live.done(key)
            return
        if len(flight.codes) and self._pool is not None:
            self._pool.release(flight.codes)
            if self._moved_busy:
                for code in flight.codes.tolist():
                    moved = self._moved_busy.pop(code, None)
                    if moved is not None:
                        self._live.done(moved)
        for key, booked in flight.booked.items():
            self._live.done(key, now, booked)

    def pause(self, partitions: Mapping[str, float]) -> None:
        """Send nothing for these partitions before the given absolute times (a 429)."""
        keys = list(partitions)
        for key, code in zip(keys, self._codes(keys).tolist(), strict=True):
            until = partitions[key]
            if until <= self._paused_until(key, code):
                continue
            if code >= 0 and not self._paced[code]:
                assert self._pool is not None
                self._pool_pauses[code] = until
                heapq.heappush(self._pool_pause_ends, (until, code))
                self._pool.block(np.asarray([code]), True)
            else:
                self._live.pause(key, until)
            heapq.heappush(self._pauses, (until, next(self._tie), key))
            self._paused.add(key)

    def tighten(self, keys: Iterable[str], now: float, *, eps: float | None = None, everyone: bool = False) -> int:
        """From now on pace these partitions strictly (``_throttle``), at ``eps`` events/s
        when the server named a lower rate; ``everyone``: every partition, from now on.
        Returns how many partitions were tightened that were not before."""
        p = self.pacing
        rate = min(p.device_eps, eps) if eps is not None and eps > 0 else p.device_eps
        rules = pacing_rules(rate, p.window_s, p.safety, strict=True)
        fresh = [k for k in dict.fromkeys(keys) if k not in self._tightened]
        self._tightened.update(fresh)
        for key in fresh:
            self._live.set_rules(key, rules, now)
        self._move_to_live(fresh, rules, now)
        if everyone and not self._tight_all:
            self._tight_all = True
            self._live.set_rules(None, rules, now)
            if self._plan is not None and self._pool is not None:
                cap = smallest_cap(rules)
                newly = np.flatnonzero((self._plan.totals > cap) & ~self._paced)
                self._paced[newly] = True
                self._pool.block(newly, True)
                self._move_codes(newly, rules, now)
        return len(fresh)

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

    # -- queries -----------------------------------------------------------------------

    def request_limits(self) -> tuple[int, int]:
        """(bytes of events, events) a request may hold now: ``Batch.nbytes`` and ``len`` bounds."""
        return self._cap1 - 1, self._max_events

    def pending(self) -> int:
        """Events waiting to be handed out (added or requeued, not in a batch from next_batch)."""
        return self._live.pending + (self._pool.pending if self._pool is not None else 0)

    def pending_bytes(self) -> int:
        """The payload bytes of the pending events (commas and envelope not counted)."""
        return self._live.bytes + (self._pool.bytes if self._pool is not None else 0)

    def partitions(self) -> int:
        """Paced partitions the scheduler holds state for (pending, paused, or sent to within a window)."""
        return self._live.records()

    def live_partitions(self) -> int:
        """Paced partitions with events pending or in flight (the others are dormant records)."""
        return self._live.live()

    def tightened(self) -> tuple[int, bool]:
        """(partitions paced strictly because the server throttled them, whether every one is)."""
        return len(self._tightened), self._tight_all

    def paused(self, now: float) -> int:
        """How many partitions are paused at ``now``."""
        pauses = self._pauses
        while pauses and pauses[0][0] <= now:
            _, _, key = heapq.heappop(pauses)
            if self._paused_until(key, int(self._codes([key])[0])) <= now:  # not paused again since
                self._paused.discard(key)
        return len(self._paused)

    def ready_at(self, now: float) -> float | None:
        """The earliest time (>= now) at which next_batch gives a batch; None when nothing is pending.

        Events in flight are not pending: with none pending this is None even
        though a requeue may come later. Partitions held by a batch in flight
        become ready at ``done``, not at a time this can tell.
        """
        if not self.pending():
            return None
        self._unpause_pool(now)
        times = []
        live = self._live.ready_time(now) if self._live.pending else None
        if live is not None:
            times.append(live)
        if self._pool is not None and self._pool.pending:
            if self._pool.ready():
                times.append(now)
            elif self._pool_pause_ends:
                times.append(self._pool_pause_ends[0][0])
        if not times:
            return None
        t = min(times)
        if self._rps is not None:
            t = max(t, self._rps.time_for(1, now))
        if self._eps is not None:
            t = max(t, self._eps.time_for(min(self._want, self.pending()), now))
        return max(t, now)

    # -- the request builder -------------------------------------------------------------

    def next_batch(self, now: float) -> Batch | None:
        """One request's worth of events that may be sent at ``now``, or None."""
        self._live.forget_dormant(now)
        self._unpause_pool(now)
        pending = self.pending()
        if not pending:
            return None
        room = self._max_events
        if self._rps is not None and not self._rps.has(1, now):
            return None
        if self._eps is not None:
            # Wait for a full request's worth of tokens (or all that is pending), so
            # a caller polling often does not get a stream of tiny requests.
            if not self._eps.has(min(self._want, pending), now):
                return None
            room = min(room, math.floor(self._eps.tokens(now) + 1e-9))
        out = Taken()
        full = self._live.take(now, room, self._cap1, self._quantum, out)
        room -= len(out.pay)
        codes = np.empty(0, dtype=np.int64)
        if not full and room > 0 and self._pool is not None and self._pool.pending:
            picked = self._pool.take(room, self._cap1 - out.size, alone_ok=not out.pay)
            if picked is not None:
                out.pos += picked.positions
                out.pay += picked.payloads
                out.par += picked.keys
                out.seqs += picked.seqs
                out.size += picked.nbytes
                codes = picked.codes
        if not out.pay:
            return None
        n = len(out.pay)
        if self._rps is not None:
            self._rps.take(1, now)
        if self._eps is not None:
            self._eps.take(n, now)
        flight = -1
        if self._hold:
            flight = next(self._flight_ids)
            self._flights[flight] = _Flight(codes, out.booked, out.par)
        return Batch(out.pos, out.pay, out.par, out.size - 1, out.seqs, now, flight)

    # -- pool devices --------------------------------------------------------------------

    def _codes(self, keys: list[str]) -> np.ndarray:
        if self._plan is None:
            return np.full(len(keys), -1, dtype=np.int64)
        return self._plan.codes(keys)

    def _paused_until(self, key: str, code: int) -> float:
        if code >= 0 and not self._paced[code]:
            return self._pool_pauses.get(code, NEVER_BEFORE)
        return self._live.paused_until(key)

    def _unpause_pool(self, now: float) -> None:
        ends = self._pool_pause_ends
        while ends and ends[0][0] <= now:
            _, code = heapq.heappop(ends)
            until = self._pool_pauses.get(code)
            if until is not None and until <= now:
                del self._pool_pauses[code]
                if self._pool is not None and not self._paced[code]:
                    self._pool.block(np.asarray([code]), False)

    def _move_to_live(self, keys: list[str], rules: Rules, now: float) -> None:
        """Pool devices among ``keys`` become paced partitions (with their pauses)."""
        if self._pool is None or not keys:
            return
        codes = self._codes(keys)
        fresh = np.unique(codes[(codes >= 0)])
        fresh = fresh[~self._paced[fresh]]
        if not len(fresh):
            return
        self._paced[fresh] = True
        self._pool.block(fresh, True)
        for key, code in zip(keys, codes.tolist(), strict=True):
            until = self._pool_pauses.pop(code, None) if code >= 0 else None
            if until is not None:
                self._live.pause(key, until)
        self._move_codes(fresh, rules, now)

    def _move_codes(self, codes: np.ndarray, rules: Rules, now: float) -> None:
        """Move the pending events (and holds) of these pool devices to paced partitions.

        Their sends so far are not known one by one: a rule they could break
        (cap below their total) is assumed full at ``now``, the safe side.
        """
        assert self._pool is not None and self._plan is not None
        picked = self._pool.extract(codes)
        keys_of: dict[int, str] = {}
        if picked is not None:
            self._live.add(picked.seqs, picked.keys, picked.payloads, picked.positions,
                           picked.nbytes - len(picked), len(picked))
            unique = list(dict.fromkeys(picked.keys))
            keys_of.update(zip(self._plan.codes(unique).tolist(), unique, strict=True))
        for code in codes[self._pool.busy[codes] > 0].tolist():
            # In flight from the pool: its paced partition holds until that batch is done.
            key = keys_of.get(code) or self._key_in_flight(code)
            if key is not None:
                self._live.hold(key, int(self._pool.busy[code]))
                self._moved_busy[code] = key
                keys_of[code] = key
        for key in keys_of.values():
            total = self._plan.total(key)
            binding = [cap for cap, _ in rules if cap < total]
            if binding:
                self._live.set_rules(key, rules, now, assume_sent=max(binding))

    def _key_in_flight(self, code: int) -> str | None:
        assert self._plan is not None
        for flight in self._flights.values():
            i = int(np.searchsorted(flight.codes, code))
            if i < len(flight.codes) and flight.codes[i] == code:
                codes = self._plan.codes(flight.keys)
                return flight.keys[int(np.argmax(codes == code))]
        return None


def _gather(items: list[bytes] | list[str], idx: np.ndarray) -> list:  # type: ignore[type-arg]
    return [items[i] for i in idx.tolist()]
