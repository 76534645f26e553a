"""What pacing will cost, said before the user waits; and what tightening after a 429 changed.

Pure: numbers in, text out (the dry run, the result and the progress line use it).

The lower bound (issue 11): a device may send ``cap`` events per ``window`` under
each pacing rule, so its events need ``window * (ceil(events / cap) - 1)`` at
least; the busiest device sets the bound for the upload. A project rate (the
Starter tier) adds ``events / project_eps``. Amplitude's Batch API allows 1,000
events/s per device instead of 30 (reference, "Limits"), which is the way out for
a backfill with very busy devices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ._config import Pacing
from ._plan import PartitionPlan
from ._progress_model import format_duration
from ._throttle import pacing_rules

__all__ = ["PacingEstimate", "partition_label", "tightening_note"]

_NAMED = 3  # busiest devices named in the text


def partition_label(key: str) -> str:
    """How a partition key reads: ``device_id "d-1"`` or ``user_id "u-7"``."""
    if key.startswith("user:"):
        return f'user_id "{key[5:]}"'
    return f'device_id "{key}"'


def rules_bound(events: int, rules: Sequence[tuple[int, float]]) -> float:
    """The least time ``events`` of one device need under ``rules`` (seconds)."""
    return max((win * (math.ceil(events / cap) - 1) for cap, win in rules), default=0.0) if events else 0.0


@dataclass(frozen=True)
class PacingEstimate:
    """The pacing lower bound of an upload (see the module docstring)."""

    busiest: tuple[tuple[str, int], ...]  # (partition key, events), busiest first; () when pacing costs nothing
    events: int
    api: str
    device_eps: float
    window_s: float
    budget: int  # events per device per window
    device_bound_s: float
    project_eps: float | None = None
    project_bound_s: float = 0.0
    batch_bound_s: float | None = None  # the same upload on the Batch API (HTTP V2 only)

    @classmethod
    def of(cls, plan: PartitionPlan, pacing: Pacing, api: str) -> PacingEstimate:
        rules = pacing_rules(pacing.device_eps, pacing.window_s, pacing.safety, strict=pacing.strict)
        top = plan.max_total
        batch = None
        if api == "http":
            fast = Pacing.for_api("batch")
            batch = rules_bound(top, pacing_rules(fast.device_eps, pacing.window_s, pacing.safety, strict=False))
        project = plan.events / pacing.project_eps if pacing.project_eps else 0.0
        estimate = cls(
            (), plan.events, api, pacing.device_eps, pacing.window_s, rules[0][0],
            rules_bound(top, rules), pacing.project_eps, project, batch,
        )
        # Named only when pacing will make the upload wait (naming costs a pass over the keys).
        return replace(estimate, busiest=plan.busiest) if estimate.matters else estimate

    @property
    def bound_s(self) -> float:
        return max(self.device_bound_s, self.project_bound_s)

    @property
    def matters(self) -> bool:
        """Whether pacing will make the upload wait at all (worth telling the user)."""
        return self.device_bound_s > 0 or self.project_bound_s >= 1.0

    def _api_name(self) -> str:
        return "HTTP V2" if self.api == "http" else "the Batch API"

    def lines(self) -> list[str]:
        """The summary lines (none when pacing costs nothing)."""
        if not self.matters:
            return []
        named = ", ".join(f"{partition_label(k)} {n:,} events" for k, n in self.busiest[:_NAMED])
        out = [f"pacing: busiest {named}"]
        if self.device_bound_s >= self.project_bound_s:
            text = (f"at {self._api_name()}'s {self.device_eps:,.0f} events/s per device ({self.budget:,} per "
                    f"{self.window_s:,.0f} s window) this upload needs at least {format_duration(self.device_bound_s)}")
        else:
            text = (f"at the project's {self.project_eps:,.0f} events/s this upload needs at least "
                    f"{format_duration(self.project_bound_s)}")
        if self.batch_bound_s is not None and self.device_bound_s > self.batch_bound_s:
            text += (f'; api="batch" allows {Pacing.for_api("batch").device_eps:,.0f} events/s per device: '
                     f"about {format_duration(max(self.batch_bound_s, self.project_bound_s))}")
        out.append(text)
        return out

    def short(self) -> str | None:
        """One line for the progress display (None when pacing costs nothing)."""
        if not self.matters:
            return None
        if self.device_bound_s >= self.project_bound_s and self.busiest:
            key, n = self.busiest[0]
            text = (f"pacing: {partition_label(key)} has {n:,} events, at least "
                    f"{format_duration(self.device_bound_s)} at {self.device_eps:,.0f} events/s")
            if self.batch_bound_s is not None and self.device_bound_s > self.batch_bound_s:
                text += f' (api="batch": about {format_duration(max(self.batch_bound_s, self.project_bound_s))})'
            return text
        return f"pacing: at least {format_duration(self.project_bound_s)} at the project's rate"


def _span(seconds: float) -> str:
    return f"{seconds:.3g} s" if seconds < 10 else format_duration(seconds)


def tightening_note(devices: int, everyone: bool, pacing: Pacing, eps: float | None) -> str | None:
    """What changed after Amplitude throttled devices (a 429 or a silenced 400), or None."""
    if not devices and not everyone:
        return None
    rate = min(pacing.device_eps, eps) if eps else pacing.device_eps
    rules = pacing_rules(rate, pacing.window_s, pacing.safety, strict=True)
    (cap, win), (burst, short) = rules[0], rules[-1]
    limit = f"at most {burst:,} events per {_span(short)} and {cap:,} per {_span(win)}"
    said = f" (Amplitude's limit: {eps:,.0f} events/s)" if eps else ""
    noun = "device" if devices == 1 else "devices"
    if everyone:
        return (f"pacing tightened for every device after Amplitude throttled {devices:,} {noun}{said}: "
                f"{limit} each")
    return f"pacing tightened for {devices:,} {noun} Amplitude throttled{said}: {limit} each"
