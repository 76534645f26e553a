"""The emulator's memory: per-partition rates, daily counts, and seen insert_ids.

All take the time as an argument (seconds since the epoch, float); none reads a clock.
"""

from __future__ import annotations

from collections import deque


class RateBook:
    """Ingested events per partition over a sliding window (reference, "Limits":
    "averaged over a recent window (about 30 s)")."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._events: dict[str, deque[list[float]]] = {}  # partition -> [[t, n], ...]
        self._totals: dict[str, int] = {}
        self._adds = 0

    def count(self, partition: str, now: float) -> int:
        q = self._events.get(partition)
        if q is None:
            return 0
        horizon = now - self.window_s
        total = self._totals[partition]
        while q and q[0][0] <= horizon:
            total -= int(q.popleft()[1])
        self._totals[partition] = total
        return total

    def add(self, partition: str, now: float, n: int) -> None:
        q = self._events.get(partition)
        if q is None:
            q = self._events[partition] = deque()
            self._totals[partition] = 0
        if q and q[-1][0] == now:
            q[-1][1] += n
        else:
            q.append([now, float(n)])
        self._totals[partition] += n
        self._adds += 1
        if self._adds % 100_000 == 0:
            self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        # Partitions seen once in a long upload would otherwise pile up forever.
        for p in [p for p in self._events if self.count(p, now) == 0]:
            del self._events[p], self._totals[p]


class QuotaBook:
    """Events per partition for the current UTC day."""

    def __init__(self) -> None:
        self._day = -1
        self._counts: dict[str, int] = {}

    def _roll(self, now: float) -> None:
        day = int(now // 86_400)
        if day != self._day:
            self._day, self._counts = day, {}

    def count(self, partition: str, now: float) -> int:
        self._roll(now)
        return self._counts.get(partition, 0)

    def add(self, partition: str, now: float, n: int) -> None:
        self._roll(now)
        self._counts[partition] = self._counts.get(partition, 0) + n


class DedupBook:
    """(partition, insert_id) pairs seen within the last ``window_s`` seconds
    (reference, "Event keys" -> insert_id: "within 7 days"). A duplicate does not
    extend the window: it runs from the first sighting."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._seen: dict[tuple[str, str], float] = {}
        self._order: deque[tuple[float, tuple[str, str]]] = deque()

    def __len__(self) -> int:
        return len(self._seen)

    def seen(self, key: tuple[str, str], now: float) -> bool:
        """True when ``key`` is a duplicate; otherwise remembers it and returns False."""
        self._expire(now)
        t = self._seen.get(key)
        if t is not None and now - t < self.window_s:
            return True
        self._seen[key] = now
        self._order.append((now, key))
        return False

    def forget(self, key: tuple[str, str]) -> None:
        """As if ``key`` had never been seen (an event the server then lost)."""
        self._seen.pop(key, None)  # its entry in _order no longer matches: _expire skips it

    def _expire(self, now: float) -> None:
        order, seen, horizon = self._order, self._seen, now - self.window_s
        while order and order[0][0] <= horizon:
            t, key = order.popleft()
            if seen.get(key) == t:
                del seen[key]
