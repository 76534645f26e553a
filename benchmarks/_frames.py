"""Synthetic event frames shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import numpy as np
import pandas as pd

EVENT_TYPES = ["Play", "Pause", "Purchase", "Search", "Share", "Sign In", "Sign Out", "View"]
PLANS = ["free", "plus", "pro", "team", "enterprise"]
COUNTRIES = ["DE", "FR", "GB", "JP", "US", "BR", "IN", "CA", "AU", "ES"]


def _ids(prefix: str, numbers: np.ndarray) -> pd.Series:
    # Vectorised "prefix-000123"; the frame keeps pandas' default string dtype
    # ("str" on pandas 3, object on 2.2), as a user's read_csv would give.
    return pd.Series(numbers).map(f"{prefix}-{{:06d}}".format)


def event_frame(
    n: int,
    *,
    devices: int | None = None,
    device_counts: np.ndarray | None = None,
    seed: int = 0,
    start: str = "2026-01-01",
) -> pd.DataFrame:
    """``n`` valid events: user_id, device_id, event_type, time, five event properties.

    The five properties have mixed types: int (``amount``), float (``price``),
    str (``plan``), bool (``is_trial``), category (``country``).
    Devices: ``device_counts[i]`` events for device i (shuffled), else ``n``
    events spread evenly over ``devices`` (default: n // 20) devices.
    Each device belongs to one user (user = device // 2).
    """
    rng = np.random.default_rng(seed)
    if device_counts is not None:
        device = np.repeat(np.arange(len(device_counts)), device_counts)
        if len(device) != n:
            raise ValueError("device_counts must add up to n")
        rng.shuffle(device)
    else:
        devices = devices or max(1, n // 20)
        device = rng.integers(0, devices, n)
    frame = pd.DataFrame(
        {
            "user_id": _ids("user", device // 2),
            "device_id": _ids("device", device),
            "event_type": np.asarray(EVENT_TYPES, dtype=object)[rng.integers(0, len(EVENT_TYPES), n)],
            # Strictly increasing times (ms steps), so time order = frame order.
            "time": pd.Timestamp(start) + pd.to_timedelta(np.arange(n) * 7, unit="ms"),
            "event_properties.amount": rng.integers(0, 10_000, n),
            "event_properties.price": np.round(rng.random(n) * 100, 2),
            "event_properties.plan": np.asarray(PLANS, dtype=object)[rng.integers(0, len(PLANS), n)],
            "event_properties.is_trial": rng.random(n) < 0.3,
            "event_properties.country": pd.Categorical.from_codes(
                rng.integers(0, len(COUNTRIES), n), categories=COUNTRIES
            ),
        }
    )
    return frame


def zipf_counts(total: int, groups: int, s: float = 1.0) -> np.ndarray:
    """``total`` split over ``groups`` with Zipf weights 1/k**s (largest first, each >= 1)."""
    w = 1.0 / np.arange(1, groups + 1) ** s
    counts = np.floor(w / w.sum() * total).astype(np.int64)
    counts = np.maximum(counts, 1)
    counts[0] += total - counts.sum()  # the rounding remainder goes to the busiest
    return counts


def even_counts(total: int, groups: int) -> np.ndarray:
    """``total`` split as evenly as possible over ``groups`` (each gets total // groups or one more)."""
    counts = np.full(groups, total // groups, dtype=np.int64)
    counts[: total % groups] += 1
    return counts


def zipf_with_busiest(total: int, groups: int, busiest: int) -> np.ndarray:
    """Zipf counts ``busiest / k**s`` (k = 1..groups, each >= 1) adding up to ``total``.

    The exponent ``s`` is found by bisection; rounding leftovers go to the second
    busiest group, so the busiest has exactly ``busiest`` events.
    """
    k = np.arange(1, groups + 1, dtype=np.float64)

    def counts_for(s: float) -> np.ndarray:
        return np.maximum(1, np.floor(busiest / k**s)).astype(np.int64)

    lo, hi = 0.0, 16.0  # the sum falls as s grows
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if counts_for(mid).sum() > total else (lo, mid)
    counts = counts_for(hi)
    counts[1] += total - counts.sum()
    if groups < 2 or not 1 <= counts[1] <= busiest:
        raise ValueError(f"cannot split {total:,} over {groups:,} groups with a busiest of {busiest:,}")
    return counts
