"""Hours for Amplitude's Export API: reading them, the hours an upload ran in, splitting.

Pure: every time is passed in (seconds since the epoch, UTC); nothing reads a clock.

From the public Export API docs: ``start`` and ``end`` are hours formatted
``YYYYMMDDTHH`` (UTC), both included, and select events by the time Amplitude
received them (``server_upload_time``); at most 365 days per query; data is
exportable about two hours after the hour it arrived in ("data sent between 8
and 9 PM ... is available via the Export API at 11 PM").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timezone

import pandas as pd

from ._exceptions import ConfigurationError

HOUR_S = 3600
MAX_QUERY_HOURS = 365 * 24
# From the start of the hour the data arrived in: that hour, then about two more.
AVAILABLE_AFTER_S = 3 * HOUR_S

HourLike = str | date | int | float  # date includes datetime and pd.Timestamp


def format_hour(hour: int) -> str:
    """Hours since the epoch -> ``YYYYMMDDTHH``."""
    return datetime.fromtimestamp(hour * HOUR_S, tz=timezone.utc).strftime("%Y%m%dT%H")


def _label(hour: int, minutes: str = "00") -> str:
    return datetime.fromtimestamp(hour * HOUR_S, tz=timezone.utc).strftime("%Y-%m-%d %H:") + minutes


def hour_of(seconds: float) -> int:
    """The hour (since the epoch) that ``seconds`` falls in."""
    return math.floor(seconds / HOUR_S)


def to_hour(value: HourLike, *, name: str = "hour") -> int:
    """An hour given as ``"YYYYMMDDTHH"``, an ISO string, a datetime/date/Timestamp
    (naive = UTC) or seconds since the epoch -> hours since the epoch (rounded down)."""
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be a time, not {value!r}")
    if isinstance(value, (int, float)):
        return hour_of(float(value))
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 11 and text[8] in "Tt" and text[:8].isdigit() and text[9:].isdigit():
                stamp = pd.Timestamp(datetime.strptime(text.upper(), "%Y%m%dT%H"))
            else:
                stamp = pd.Timestamp(text)
        except ValueError:
            raise ConfigurationError(
                f"{name}={value!r} is not a time: use 'YYYYMMDDTHH' (UTC), an ISO string or a datetime"
            ) from None
    else:
        try:
            stamp = pd.Timestamp(value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"{name} must be a time, not {value!r}") from None
    if pd.isna(stamp):
        raise ConfigurationError(f"{name} must be a time, not {value!r}")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return hour_of(stamp.timestamp())


@dataclass(frozen=True, order=True)
class HourRange:
    """Hours ``first`` to ``last`` (both included), counted since the epoch, UTC."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ConfigurationError(f"the end ({_label(self.last)}) is before the start ({_label(self.first)})")

    @property
    def hours(self) -> int:
        return self.last - self.first + 1

    def params(self) -> dict[str, str]:
        """The query of one Export API request for these hours."""
        return {"start": format_hour(self.first), "end": format_hour(self.last)}

    def halves(self) -> tuple[HourRange, HourRange]:
        """Two ranges covering these hours (for a range the server found too large)."""
        if self.hours < 2:
            raise ValueError("a single hour cannot be split")
        middle = self.first + self.hours // 2
        return HourRange(self.first, middle - 1), HourRange(middle, self.last)

    def split(self, max_hours: int = MAX_QUERY_HOURS) -> list[HourRange]:
        """Consecutive ranges of at most ``max_hours`` hours covering these hours."""
        if max_hours < 1:
            raise ConfigurationError("max_hours must be at least 1")
        return [HourRange(h, min(h + max_hours - 1, self.last)) for h in range(self.first, self.last + 1, max_hours)]

    def available_at(self, delay_s: float | None = None) -> float:
        """When the last hour's data is exportable (seconds since the epoch): ``delay_s`` after
        the start of that hour (None: the docs' rule, :data:`AVAILABLE_AFTER_S`)."""
        return float(self.last * HOUR_S + (AVAILABLE_AFTER_S if delay_s is None else delay_s))

    def __str__(self) -> str:
        return f"{_label(self.first)} to {_label(self.last, '59')} UTC"


def upload_hours(started_at: float, finished_at: float, margin_s: float = 600.0) -> HourRange:
    """The hours an upload's events reached Amplitude in: its wall-clock span widened by
    ``margin_s`` on both sides (the two clocks differ; a request sent at the end is
    received a little later)."""
    if margin_s < 0:
        raise ConfigurationError("the margin must be >= 0 seconds")
    return HourRange(hour_of(started_at - margin_s), hour_of(finished_at + margin_s))


__all__ = [
    "AVAILABLE_AFTER_S",
    "HOUR_S",
    "MAX_QUERY_HOURS",
    "HourLike",
    "HourRange",
    "format_hour",
    "hour_of",
    "to_hour",
    "upload_hours",
]
