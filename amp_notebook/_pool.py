"""The cold pool: pending events of devices no pacing rule can hold back, as arrays.

Pure, vectorised (numpy), no per-device objects. Most devices of a real export
have no more events in the whole upload than one window allows (``_plan``); for
them the only rules left are order and holding (reference, "Event keys": user
properties apply in arrival order, so each device's events arrive in time
order, one request in flight per device). Issue 11: per-device Python work made
the scheduler cost 5-8x more than validation and encoding together at hundreds
of thousands of devices; here the work is per request.

Events are kept sorted by ``(code, seq)``: ``code`` is the device's dense code
(its rank of first appearance in the upload), ``seq`` the arrival number. So a
device's pending events sit together, in arrival order, and a request takes the
first devices that may send with all their pending events (whole devices,
different ones in each request in flight), cut only by the request's limits.
Taken events are marked dead and dropped in bulk on the next merge; ``front``
skips the dead ones at the start.

Per device code: ``busy`` (batches in flight), ``blocked`` (paused, or moved to the
paced partitions of ``_live``), ``stop = busy | blocked``; a device with ``stop``
gives nothing. Memory: about 40 bytes per pending event (arrays and two object
pointers; the payloads are the encoder's own bytes) plus 3 bytes per device code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["ColdPool", "Picked"]

_SEQ_BITS = 34  # arrival numbers below 2**34 (17 billion events); codes below 2**29
_SEQ_MASK = (1 << _SEQ_BITS) - 1
_MAX_CODES = 1 << (63 - _SEQ_BITS)


def _objects(items: Sequence[object]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


class Picked:
    """Events taken from the pool for one request, in pool order; ``codes``: the distinct
    device codes among them (held until released)."""

    __slots__ = ("codes", "keys", "nbytes", "payloads", "positions", "seqs")

    def __init__(self, positions: list[int], payloads: list[bytes], keys: list[str], seqs: list[int],
                 nbytes: int, codes: np.ndarray) -> None:
        self.positions, self.payloads, self.keys, self.seqs = positions, payloads, keys, seqs
        self.nbytes = nbytes  # sum of len + 1
        self.codes = codes

    def __len__(self) -> int:
        return len(self.payloads)


class ColdPool:
    """Pending events of the devices with codes ``0 .. n_codes - 1`` (see the module docstring)."""

    def __init__(self, n_codes: int, *, hold: bool) -> None:
        if n_codes > _MAX_CODES:
            raise ValueError(f"at most {_MAX_CODES:,} devices in one upload")
        self.hold = hold
        self.busy = np.zeros(n_codes, dtype=np.uint8)
        self.blocked = np.zeros(n_codes, dtype=bool)
        self.stop = np.zeros(n_codes, dtype=bool)
        self.pending = 0
        self.bytes = 0  # payload bytes pending
        self._clear()

    def _clear(self) -> None:
        self._order = np.empty(0, dtype=np.int64)  # code << _SEQ_BITS | seq, ascending
        self._code = np.empty(0, dtype=np.int64)
        self._pos = np.empty(0, dtype=np.int64)
        self._nb = np.empty(0, dtype=np.int64)  # len(payload) + 1
        self._pay = np.empty(0, dtype=object)
        self._key = np.empty(0, dtype=object)
        self._alive = np.empty(0, dtype=bool)
        self._front = 0

    # -- input -------------------------------------------------------------------

    def add(self, codes: np.ndarray, seqs: np.ndarray, positions: np.ndarray, lengths: np.ndarray,
            payloads: Sequence[bytes], keys: Sequence[str]) -> None:
        """Queue events (codes >= 0; any order: they are merged by (code, seq))."""
        n = len(codes)
        if n == 0:
            return
        order = (codes.astype(np.int64) << _SEQ_BITS) | seqs.astype(np.int64)
        srt = np.argsort(order, kind="stable")
        self._compact()
        at = np.searchsorted(self._order, order[srt])
        self._order = np.insert(self._order, at, order[srt])
        self._code = np.insert(self._code, at, codes[srt])
        self._pos = np.insert(self._pos, at, positions[srt])
        self._nb = np.insert(self._nb, at, lengths[srt] + 1)
        self._pay = np.insert(self._pay, at, _objects(payloads)[srt])
        self._key = np.insert(self._key, at, _objects(keys)[srt])
        self._alive = np.insert(self._alive, at, True)
        self.pending += n
        self.bytes += int(lengths.sum())

    def _compact(self) -> None:
        """Drop dead events (amortised: done before each merge, which copies anyway)."""
        if self._front == 0 and self._alive.all():
            return
        keep = np.flatnonzero(self._alive)
        self._order, self._code, self._pos, self._nb, self._pay, self._key = (
            a[keep] for a in (self._order, self._code, self._pos, self._nb, self._pay, self._key)
        )
        self._alive = np.ones(len(keep), dtype=bool)
        self._front = 0

    # -- taking ------------------------------------------------------------------------

    def take(self, room: int, cap1: int, *, alone_ok: bool) -> Picked | None:
        """Up to ``room`` events of devices that may send, within ``cap1`` bytes (len + 1 each),
        whole devices first in pool order. ``alone_ok``: an event alone over ``cap1`` (a limit
        lowered by a 413) may be taken by itself."""
        chosen: list[np.ndarray] = []
        n = len(self._order)
        start = self._front
        step = max(4 * room, 4096)
        full = False
        while start < n and room > 0 and not full:
            end = min(n, start + step)
            ok = self._alive[start:end] & ~self.stop[self._code[start:end]]
            cand = np.flatnonzero(ok)[:room] + start
            if len(cand):
                sums = np.cumsum(self._nb[cand])
                k = int(np.searchsorted(sums, cap1, side="right"))
                if k < len(cand):
                    full = True
                    if k == 0 and alone_ok and not chosen:
                        k = 1
                if k:
                    chosen.append(cand[:k])
                    room -= k
                    cap1 -= int(sums[k - 1])
            start = end
            step *= 2
        if not chosen:
            return None
        idx = np.concatenate(chosen) if len(chosen) > 1 else chosen[0]
        return self._pick(idx)

    def _pick(self, idx: np.ndarray) -> Picked:
        codes = np.unique(self._code[idx])
        picked = Picked(
            self._pos[idx].tolist(), self._pay[idx].tolist(), self._key[idx].tolist(),
            (self._order[idx] & _SEQ_MASK).tolist(), int(self._nb[idx].sum()), codes,
        )
        self._alive[idx] = False
        self._pay[idx] = None  # the request holds them now; do not keep them alive here
        self._key[idx] = None
        self.pending -= len(idx)
        self.bytes -= picked.nbytes - len(idx)
        if self.hold:
            self.busy[codes] += 1
            self.stop[codes] = True
        self._advance()
        return picked

    def _advance(self) -> None:
        if self.pending == 0:
            self._clear()
            return
        alive, n, f, step = self._alive, len(self._alive), self._front, 4096
        while f < n:
            hit = np.flatnonzero(alive[f : f + step])
            if len(hit):
                self._front = f + int(hit[0])
                return
            f += step
            step *= 2
        self._front = n

    def extract(self, codes: np.ndarray) -> Picked | None:
        """Remove and return every pending event of these devices (pool order: by device, in
        arrival order), e.g. to pace them one by one from now on. Not held."""
        if not self.pending or not len(codes):
            return None
        f = self._front
        idx = np.flatnonzero(self._alive[f:] & np.isin(self._code[f:], codes)) + f
        if not len(idx):
            return None
        hold, self.hold = self.hold, False
        try:
            return self._pick(idx)
        finally:
            self.hold = hold

    # -- devices -------------------------------------------------------------------------

    def release(self, codes: np.ndarray) -> None:
        """The batch holding these devices is settled."""
        if not self.hold or not len(codes):
            return
        self.busy[codes] -= 1
        self.stop[codes] = (self.busy[codes] > 0) | self.blocked[codes]

    def block(self, codes: np.ndarray, blocked: bool) -> None:
        """Block (paused, moved away) or unblock devices."""
        self.blocked[codes] = blocked
        self.stop[codes] = (self.busy[codes] > 0) | self.blocked[codes]

    def ready(self) -> bool:
        """Whether :meth:`take` would give an event now (limits aside)."""
        n, f, step = len(self._order), self._front, 8192
        while f < n:
            e = min(n, f + step)
            if (self._alive[f:e] & ~self.stop[self._code[f:e]]).any():
                return True
            f, step = e, step * 2
        return False
