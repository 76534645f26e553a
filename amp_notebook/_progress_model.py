"""The progress events the upload loop emits (tqdm's model/view split).

The loop builds a :class:`ProgressUpdate` and hands it to a sink, a plain
callable. Sinks (ipywidgets, text, logging) live in ``_progress.py``; the loop
never imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Phase = Literal["starting", "sending", "waiting", "done", "failed", "interrupted"]


@dataclass(frozen=True)
class ProgressUpdate:
    """A snapshot of an upload. Counts are rows (one event, or one identification, per row)."""

    total: int                 # events to send (rows after local validation)
    sent: int = 0              # events that got a final answer (ingested + rejected + failed)
    ingested: int = 0
    rejected: int = 0
    failed: int = 0
    skipped: int = 0           # rows not sent: locally invalid
    requests: int = 0
    retries: int = 0
    throttled: int = 0         # 429 answers so far
    paused_partitions: int = 0 # devices/users paused by throttling right now
    waiting_s: float = 0.0     # > 0 when the loop waits (throttling, backoff) with nothing to send
    retrying: str = ""         # what the last retry was after ("503", "ConnectError"); "" = none yet
    elapsed_s: float = 0.0
    phase: Phase = "sending"
    pacing: str | None = None     # what pacing costs at least (the busiest device), when it costs anything
    tightened: str | None = None  # pacing was tightened after Amplitude throttled devices: how and why
    unit: str = "events"       # what a row is sent as ("identifications" for Identify)
    note: str | None = None    # anything else the view must say while sending (a Dask job's total is estimated)

    @property
    def fraction(self) -> float:
        return 1.0 if self.total == 0 else min(1.0, self.sent / self.total)

    @property
    def events_per_second(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        rate = self.events_per_second
        if rate <= 0 or self.sent >= self.total:
            return None
        return (self.total - self.sent) / rate


ProgressSink = Callable[[ProgressUpdate], None]


def format_duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
