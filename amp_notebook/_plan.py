"""The partitions of an upload before it starts: how many events each has, and which are busiest.

Pure: keys in, arrays out. The upload computes a :class:`PartitionPlan` from every
row's partition key (``_encoding.iter_partition_keys``) before it sends anything:

- the scheduler routes each event by its partition's total: a device with no more
  events in the whole upload than a pacing rule allows can never be held back, so
  it needs no per-device state (issue 11: most devices of a real export send a
  few events; only the few busy ones are paced one by one);
- the dry run and the progress line say what pacing will cost (``_estimate``).

Partitions are identified by Python's ``hash()`` of their key (64 bits, computed in
C and cached on the string). It is salted per process, so a plan is only valid in
the process that made it (it is never pickled or sent anywhere). Two keys with the
same hash would be counted as one partition: their totals add up, which can only
make pacing stricter, never looser.

Codes: each partition gets a dense code, its rank of first appearance (0 for the
partition of the first row), so that per-partition arrays are small and the
order partitions are served in does not depend on the hash salt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["PartitionPlan"]

_TOP = 5  # busiest partitions named by the plan


def key_hashes(keys: Sequence[str] | np.ndarray) -> np.ndarray:
    """``hash(key)`` of each key as int64 (C-level map; str hashes are cached on the object)."""
    return np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys))


@dataclass(eq=False)
class PartitionPlan:
    """Events per partition in an upload, and the busiest partitions.

    ``hashes``: the distinct key hashes, sorted; ``codes_of_hashes``: each one's code
    (rank of first appearance); ``totals``: events per partition, indexed by code (both
    int32, or int64 past 2**31 events);
    ``top``: the codes of the busiest, busiest first (equal totals: first seen first).
    """

    hashes: np.ndarray
    codes_of_hashes: np.ndarray
    totals: np.ndarray
    top: tuple[int, ...]
    events: int
    _slices: Callable[[], Iterator[Sequence[str]]] | None = field(default=None, repr=False)
    _names: tuple[tuple[str, int], ...] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.totals)

    @classmethod
    def from_keys(cls, slices: Callable[[], Iterator[Sequence[str]]], *, top: int = _TOP) -> PartitionPlan:
        """The plan of every key in ``slices()``, in order. Only the distinct hashes are kept
        (counted a slice at a time, so the whole frame's hashes never exist at once);
        ``slices`` is called again if the busiest are asked for by name."""
        counts = _Counts()
        for keys in slices():
            counts.add(key_hashes(keys))
        top_codes = tuple(_top_indexes(counts.totals, top))
        return cls(counts.hashes, counts.codes, counts.totals, top_codes, counts.events, slices)

    @classmethod
    def of(cls, keys: Iterable[str]) -> PartitionPlan:
        """The plan of a list of keys (tests and small uploads)."""
        listed = list(keys)
        return cls.from_keys(lambda: iter([listed]))

    @property
    def busiest(self) -> tuple[tuple[str, int], ...]:
        """The busiest (key, events), busiest first. Found by name on first use (one more
        pass over the keys; an upload asks only when pacing will make it wait)."""
        if self._names is None:
            wanted = {int(self.hashes[np.flatnonzero(self.codes_of_hashes == c)[0]]): c for c in self.top}
            found: dict[int, str] = {}
            for keys in self._slices() if self._slices is not None else ():
                h = key_hashes(keys)
                hit = np.flatnonzero(np.isin(h, np.fromiter(wanted, np.int64, len(wanted))))
                for i in hit.tolist():
                    found.setdefault(wanted[int(h[i])], keys[i])
                if len(found) == len(wanted):
                    break
            self._names = tuple((found.get(c, "?"), int(self.totals[c])) for c in self.top)
        return self._names

    def codes(self, keys: Sequence[str]) -> np.ndarray:
        """The code of each key; -1 for a key this plan has not seen."""
        h = key_hashes(keys)
        n = len(self.hashes)
        if n == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        i = np.searchsorted(self.hashes, h)
        np.minimum(i, n - 1, out=i)
        return np.where(self.hashes[i] == h, self.codes_of_hashes[i], -1)

    def total(self, key: str) -> int:
        """Events of one partition in the upload (0 when unknown)."""
        code = int(self.codes([key])[0])
        return int(self.totals[code]) if code >= 0 else 0

    @property
    def max_total(self) -> int:
        return int(self.totals[self.top[0]]) if self.top else 0


class _Counts:
    """Distinct key hashes (sorted), each one's code (rank of first appearance) and the
    events per code, updated one slice of hashes at a time.

    Issue 11: hashing every row first and ``np.unique`` over all of them held 8 bytes a
    row and a sort of them (334 MB for 10,000,000 rows); merged per slice, what is held
    is per partition. Codes and totals are int32 (a frame of 2**31 rows would not fit
    in memory anyway; they widen to int64 beyond it).
    """

    def __init__(self) -> None:
        self.hashes = np.empty(0, dtype=np.int64)
        self.codes = np.empty(0, dtype=np.int32)
        self.totals = np.empty(0, dtype=np.int32)
        self.events = 0

    def add(self, part: np.ndarray) -> None:
        if self.events + len(part) > np.iinfo(np.int32).max and self.totals.dtype != np.int64:
            self.codes, self.totals = self.codes.astype(np.int64), self.totals.astype(np.int64)
        self.events += len(part)
        distinct, first, counts = np.unique(part, return_index=True, return_counts=True)
        at = np.searchsorted(self.hashes, distinct)
        known = at < len(self.hashes)
        known[known] = self.hashes[at[known]] == distinct[known]
        self.totals[self.codes[at[known]]] += counts[known].astype(self.totals.dtype)
        new = ~known
        # New partitions get the next codes, in the order of their first row in this slice.
        by_first = np.argsort(first[new], kind="stable")
        codes = np.empty(len(by_first), dtype=self.codes.dtype)
        codes[by_first] = np.arange(len(self.totals), len(self.totals) + len(by_first))
        self.hashes = np.insert(self.hashes, at[new], distinct[new])  # stays sorted
        self.codes = np.insert(self.codes, at[new], codes)
        self.totals = np.concatenate([self.totals, counts[new][by_first].astype(self.totals.dtype)])


def _top_indexes(totals: np.ndarray, top: int) -> list[int]:
    """Indexes of the ``top`` largest totals, largest first; equal totals: lowest index first.

    Never hash order: str hashes are salted per process, and the busiest devices are
    named in text that must read the same on every run (a saved notebook, a test).
    """
    if len(totals) == 0:
        return []
    order = np.arange(len(totals))
    k = min(top, len(totals))
    kth = -np.partition(-totals, k - 1)[k - 1]  # the k-th largest total
    above = np.flatnonzero(totals > kth)
    equal = np.flatnonzero(totals == kth)
    need = k - len(above)
    if need < len(equal):  # the first ones in ``ties`` order, in O(n)
        equal = equal[np.argpartition(order[equal], need - 1)[:need]]
    idx = np.concatenate([above, equal]).tolist()
    return sorted(idx, key=lambda i: (-int(totals[i]), int(order[i])))
