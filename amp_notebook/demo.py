"""A realistic sample frame of events, for ``amp-notebook demo``, notebooks and tests::

    from amp_notebook.demo import DEMO_MAPPING, sample_events

    events = sample_events(300, seed=0)              # a few rows broken on purpose (INVALID_ROWS)
    events.amplitude.validate(DEMO_MAPPING)

Deterministic for a seed (numpy's ``default_rng``), no clock, no IO: the same
frame on every machine, so notebooks that show it compare cleanly under nbval.
"""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd

__all__ = ["DEMO_MAPPING", "INVALID_ROWS", "sample_events"]

# The sample's own property columns go into event_properties; every other column
# is named like its event key and is matched automatically.
DEMO_MAPPING: dict[str, object] = {"event_properties": ["song", "genre", "duration_s"]}

# What each deliberately broken row breaks (reference, "Event keys" and "General rules"),
# in the order they are planted. The reason codes are the validator's.
INVALID_ROWS: tuple[tuple[str, str], ...] = (
    ("id_missing", "neither user_id nor device_id"),
    ("event_type_reserved", "event_type '[Amplitude] Start Session' is reserved"),
    ("string_too_long", "a 1,500-character song title (the limit is 1,024)"),
    ("id_invalid", "user_id 'null' and no device_id"),
)

_EVENT_TYPES = ("Open App", "Search", "Play Song", "Add to Playlist", "Share", "Purchase")
_EVENT_WEIGHTS = (0.15, 0.2, 0.4, 0.12, 0.05, 0.08)
_SONGS = ("Blue Train", "So What", "Take Five", "Naima", "Footprints", "Maiden Voyage", "Giant Steps")
_GENRES = ("jazz", "bebop", "modal", "hard bop")
_PLATFORMS = ("iOS", "Android", "Web")
_COUNTRIES = ("United States", "Germany", "France", "Japan", "Brazil")
_START = pd.Timestamp("2024-06-03 08:00:00")


def _device_id(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def sample_events(n: int = 300, seed: int = 0, invalid: bool = True) -> pd.DataFrame:
    """``n`` listening-app events: several users and devices over three days.

    Columns: ``user_id`` (missing for anonymous events), ``device_id``,
    ``event_type``, ``time`` (naive datetimes, read as UTC), ``platform``,
    ``country``, ``revenue`` (Purchase only), and the event properties ``song``,
    ``genre``, ``duration_s`` (use :data:`DEMO_MAPPING`). Rows are in time order.

    With ``invalid=True`` one row per entry of :data:`INVALID_ROWS` is broken, at
    positions drawn from the seed (fewer when ``n`` is smaller than that).
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = np.random.default_rng(seed)
    n_users = 8
    users = [f"user_{i:05d}" for i in range(1, n_users + 1)]
    # One or two devices per user, plus a few devices never logged in (anonymous).
    devices: list[tuple[str | None, str, str, str]] = []
    for user in users:
        country = str(rng.choice(_COUNTRIES))
        for _ in range(int(rng.integers(1, 3))):
            devices.append((user, _device_id(rng), str(rng.choice(_PLATFORMS)), country))
    for _ in range(3):
        devices.append((None, _device_id(rng), str(rng.choice(_PLATFORMS)), str(rng.choice(_COUNTRIES))))

    who = rng.integers(0, len(devices), size=n)
    offsets_s = np.sort(rng.integers(0, 3 * 86_400, size=n))
    event_type = rng.choice(np.array(_EVENT_TYPES, dtype=object), size=n, p=_EVENT_WEIGHTS)
    songs = rng.choice(np.array(_SONGS, dtype=object), size=n)
    genres = rng.choice(np.array(_GENRES, dtype=object), size=n)
    durations = rng.integers(90, 600, size=n)
    prices = rng.choice(np.array([0.99, 1.29, 9.99]), size=n)

    has_song = np.isin(event_type, ("Play Song", "Add to Playlist", "Share", "Purchase"))
    frame: pd.DataFrame = pd.DataFrame(
        {
            "user_id": [devices[i][0] for i in who],
            "device_id": [devices[i][1] for i in who],
            "event_type": event_type,
            "time": _START + pd.to_timedelta(offsets_s, unit="s"),
            "platform": [devices[i][2] for i in who],
            "country": [devices[i][3] for i in who],
            "revenue": np.where(event_type == "Purchase", prices, np.nan),
            "song": pd.Series(songs).where(has_song),
            "genre": pd.Series(genres).where(has_song),
            # Nullable integers: a missing duration must not turn the others into floats.
            "duration_s": pd.array(np.where(event_type == "Play Song", durations, 0), dtype="Int64"),
        }
    )
    frame.loc[frame["event_type"] != "Play Song", "duration_s"] = pd.NA

    if invalid and n:
        where = np.sort(rng.choice(n, size=min(n, len(INVALID_ROWS)), replace=False))
        for (reason, _), position in zip(INVALID_ROWS, where.tolist(), strict=False):  # n may be < 4
            _break(frame, position, reason)
    return frame


def _break(frame: pd.DataFrame, position: int, reason: str) -> None:
    label = frame.index[position]
    if reason == "id_missing":
        frame.loc[label, ["user_id", "device_id"]] = None
    elif reason == "event_type_reserved":
        frame.loc[label, "event_type"] = "[Amplitude] Start Session"
    elif reason == "string_too_long":
        frame.loc[label, "song"] = "La " * 500
    elif reason == "id_invalid":
        frame.loc[label, "user_id"] = "null"
        frame.loc[label, "device_id"] = None
