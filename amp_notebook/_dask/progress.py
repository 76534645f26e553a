"""One progress view for the whole job, fed by the partitions' uploads on the workers.

Each partition's upload relays its :class:`ProgressUpdate` (counts only) with
``Worker.log_event`` on the job's topic; the driver subscribes to the topic and
this class keeps the latest update of each partition and shows their sum in one
sink (the ipywidgets bar in a kernel, a text line in a terminal: ``make_sink``).
A partition's row count is known only once its upload has validated it. Until
every partition has reported, the total is estimated from the partitions seen so
far (their mean, times the partitions of the job) and the view says so: with
more partitions than worker threads, the partitions run in waves, and the sum
of the started ones alone would show each wave as the whole job (100 % at half way).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from .._progress import Sink
from .._progress_model import Phase, ProgressUpdate

__all__ = ["JobProgress"]

_SUMMED = ("total", "sent", "ingested", "rejected", "failed", "skipped", "requests", "retries",
           "throttled", "paused_partitions")
_FIELDS = {f.name for f in fields(ProgressUpdate)}


class JobProgress:
    """Sums the partitions' latest updates into one sink. Thread-safe."""

    def __init__(self, sink: Sink, clock: Callable[[], float], partitions: int = 0) -> None:
        self.sink = sink
        self.clock = clock
        self.partitions = partitions  # in the job (0: unknown, the total is what has reported)
        self.started = clock()
        self._latest: dict[int, ProgressUpdate] = {}
        self._lock = threading.Lock()

    def add(self, part: int, update: dict[str, Any]) -> None:
        u = ProgressUpdate(**{k: v for k, v in update.items() if k in _FIELDS})
        with self._lock:
            self._latest[part] = u
        self.sink.update(self.snapshot("sending"))

    def snapshot(self, phase: Phase) -> ProgressUpdate:
        with self._lock:
            latest = list(self._latest.values())
        sums = {name: sum(getattr(u, name) for u in latest) for name in _SUMMED}
        running = [u for u in latest if u.phase in ("sending", "waiting", "starting")]
        # Waiting only when every running partition waits, for the shortest of them.
        waiting = min((u.waiting_s for u in running), default=0.0)
        note = None
        if 0 < len(latest) < self.partitions:
            unseen = self.partitions - len(latest)
            sums["total"] = max(sums["total"] + round(sums["total"] / len(latest) * unseen), sums["sent"])
            note = f"total estimated: {len(latest):,} of {self.partitions:,} partitions started"
        return ProgressUpdate(**sums, waiting_s=waiting, elapsed_s=self.clock() - self.started, phase=phase,
                              note=note)

    def close(self, final: ProgressUpdate) -> None:
        self.sink.close(final)
