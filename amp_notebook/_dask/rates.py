"""Project-wide rates split across the partitions that upload at once.

Amplitude's Starter plan caps the whole project at 1000 events/s and 100
requests/s (reference, "Limits"). Each partition's upload paces itself with its
own scheduler, so the cap is split statically: ``slots`` partitions may upload at
the same time (a ``distributed.Semaphore`` with that many leases holds the rest
back, also when workers are added or work is stolen), each paced at ``cap / slots``.
The sum then stays under the cap in every second, with nothing shared on the hot
path and nothing new to fail.

How many slots: each upload keeps under its share in any second by refilling at
``safety`` (95 %) of it and letting the rest (5 %) through as a burst, but a burst
is at least one request (``events_per_request`` events, or one request for the
request rate). So a share is exact only while one request fits in its 5 %:
``slots <= cap * (1 - safety) / events_per_request`` (Starter: 1000 * 0.05 / 10 = 5
slots; 100 * 0.05 / 1 = 5). More slots would let their bursts add up past the cap.

Several processes add one more error: each keeps its own sends under its share
by its own clock, but their requests reach Amplitude after independent delays, so
a burst of one can land in the same server second as the end of another's. The
shares therefore add up to ``1 - SKEW_MARGIN`` (95 %) of the cap when more than one
partition uploads at once: room for about 50 ms of skew at the full rate (measured:
with exact halves, a strict sandbox answered a few 429s per 5,000 events; with the
margin, none).

The cost is the tail: when fewer partitions than slots are left, the job runs at
``left / slots`` of the cap until the last one ends. One process sends far more
than Starter's 1000 events/s (about 14,000-20,000 at 500,000 devices), so for
Starter the split costs nothing but that tail. Growth and Enterprise have no hard
project cap: nothing is split, no lease is taken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["SKEW_MARGIN", "RateSplit", "max_slots", "split_rates"]

SKEW_MARGIN = 0.05


@dataclass(frozen=True)
class RateSplit:
    """``slots`` uploads at once, each paced at ``eps`` events/s and ``rps`` requests/s,
    under the project's caps ``cap_eps`` / ``cap_rps``."""

    slots: int
    eps: float | None
    rps: float | None
    cap_eps: float | None = None
    cap_rps: float | None = None

    def describe(self) -> str:
        def rates(eps: float | None, rps: float | None) -> str:
            parts = [f"{eps:,.4g} events/s" if eps else "", f"{rps:,.4g} requests/s" if rps else ""]
            return " and ".join(p for p in parts if p)

        caps = rates(self.cap_eps, self.cap_rps)
        if self.slots == 1:
            return f"project limits {caps}: one partition at a time"
        return (f"project limits {caps}: {self.slots} partitions at a time, {rates(self.eps, self.rps)} each "
                f"({1 - SKEW_MARGIN:.0%} of the limits, for clock skew between workers)")


def max_slots(eps: float | None, rps: float | None, events_per_request: int, safety: float) -> int:
    """The most uploads at once whose one-request bursts still fit in the cap (module doc)."""
    bounds = []
    margin = max(0.0, 1.0 - safety)
    if eps is not None:
        bounds.append(math.floor(eps * margin / max(1, events_per_request) + 1e-9))
    if rps is not None:
        bounds.append(math.floor(rps * margin + 1e-9))
    return max(1, min(bounds)) if bounds else 1


def split_rates(
    eps: float | None,
    rps: float | None,
    *,
    threads: int,
    npartitions: int,
    events_per_request: int,
    safety: float,
) -> RateSplit | None:
    """The split for a job, or None when the project has no cap (nothing to share)."""
    if eps is None and rps is None:
        return None
    cap_eps, cap_rps = eps, rps
    slots = max(1, min(threads, npartitions, max_slots(eps, rps, events_per_request, safety)))
    if slots > 1:
        keep = 1.0 - SKEW_MARGIN
        eps, rps = (None if eps is None else eps * keep), (None if rps is None else rps * keep)
        slots = max(1, min(slots, max_slots(eps, rps, events_per_request, safety)))
    return RateSplit(
        slots=slots,
        eps=None if eps is None else eps / slots,
        rps=None if rps is None else rps / slots,
        cap_eps=cap_eps,
        cap_rps=cap_rps,
    )
