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
from dataclasses import dataclass

import numpy as np

__all__ = ["PartitionPlan"]

_TOP = 5  # busiest partitions named by the plan


def key_hashes(keys: Sequence[str]) -> np.ndarray:
    """``hash(key)`` of each key as int64 (C-level map; str hashes are cached on the object)."""
    return np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys))


@dataclass(frozen=True, eq=False)
class PartitionPlan:
    """Events per partition in an upload, and the busiest partitions by name.

    ``hashes``: the distinct key hashes, sorted; ``codes_of_hashes``: each one's code
    (rank of first appearance); ``totals``: events per partition, indexed by code;
    ``busiest``: the top (key, events), busiest first.
    """

    hashes: np.ndarray
    codes_of_hashes: np.ndarray
    totals: np.ndarray
    busiest: tuple[tuple[str, int], ...]
    events: int

    def __len__(self) -> int:
        return len(self.totals)

    @classmethod
    def from_keys(cls, slices: Callable[[], Iterator[Sequence[str]]], *, top: int = _TOP) -> PartitionPlan:
        """The plan of every key in ``slices()``, in order (the callable may be called twice:
        a second pass finds the name of a busy partition that no slice ranked high)."""
        parts: list[np.ndarray] = []
        names: dict[int, str] = {}
        for keys in slices():
            h = key_hashes(keys)
            parts.append(h)
            _remember_busiest(h, keys, names, 2 * top)
        all_h = np.concatenate(parts) if parts else np.empty(0, np.int64)
        del parts
        hashes, first, totals = np.unique(all_h, return_index=True, return_counts=True)
        del all_h
        order = np.argsort(first, kind="stable")  # codes: rank of first appearance
        del first
        codes = np.empty(len(hashes), dtype=np.int64)
        codes[order] = np.arange(len(hashes), dtype=np.int64)
        by_code = totals[order].astype(np.int64)
        top_sorted = _top_indexes(totals, top)
        missing = {int(hashes[i]) for i in top_sorted} - names.keys()
        if missing:  # rare: a busy partition spread thinly over every slice
            for keys in slices():
                _name_hashes(key_hashes(keys), keys, missing, names)
        busiest = tuple((names.get(int(hashes[i]), "?"), int(totals[i])) for i in top_sorted)
        return cls(hashes, codes, by_code, busiest, int(totals.sum()))

    @classmethod
    def of(cls, keys: Iterable[str]) -> PartitionPlan:
        """The plan of a list of keys (tests and small uploads)."""
        listed = list(keys)
        return cls.from_keys(lambda: iter([listed]))

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
        return int(self.totals.max()) if len(self.totals) else 0


def _top_indexes(totals: np.ndarray, top: int) -> list[int]:
    if len(totals) == 0:
        return []
    k = min(top, len(totals))
    idx = np.argpartition(-totals, k - 1)[:k]
    return sorted(idx.tolist(), key=lambda i: (-int(totals[i]), i))


def _remember_busiest(h: np.ndarray, keys: Sequence[str], names: dict[int, str], k: int) -> None:
    """Keep the names of this slice's ``k`` busiest hashes (the plan's top is almost always among them)."""
    if len(h) == 0:
        return
    uniq, first, counts = np.unique(h, return_index=True, return_counts=True)
    for i in _top_indexes(counts, k):
        names.setdefault(int(uniq[i]), keys[int(first[i])])


def _name_hashes(h: np.ndarray, keys: Sequence[str], wanted: set[int], names: dict[int, str]) -> None:
    hit = np.flatnonzero(np.isin(h, np.fromiter(wanted, np.int64, len(wanted))))
    for i in hit.tolist():
        names.setdefault(int(h[i]), keys[i])
