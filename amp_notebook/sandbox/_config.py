"""Settings of the sandbox: server limits and fault injection, as immutable values.

Defaults are Amplitude's documented numbers (reference, "Limits"); tests scale
them down (a 1 event/s device rate, a 10 kB body limit) to exercise the same
code paths in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .._keys import DEFAULT_MIN_ID_LENGTH

LimitMode = Literal["history", "strict"]


@dataclass(frozen=True)
class Faults:
    """Random server misbehaviour, drawn per request from a seeded rng.

    "before" faults answer without ingesting anything (503 is documented as safe to
    retry); "after" faults ingest the request and then lose the answer (a 500/502/504
    or a dropped connection), so a client's retry must be deduplicated by ``insert_id``
    (reference, "Responses": 500, 502, 504 "may or may not have been ingested").
    A drop closes the connection without any answer.

    ``p_lose``: silent loss, the share of the events of an *acknowledged* request
    that are never stored (the 200 counts them all; they are not remembered for
    deduplication either). Which ones is decided per event by a seeded hash of its
    device/user and insert_id, so the same events are lost whatever order requests
    arrive in; a loss is transient: the same event sent again is stored.
    ``Emulator.lost`` lists them. The other export faults are settings of
    :class:`SandboxConfig`.
    """

    p_500_after: float = 0.0
    p_502_after: float = 0.0
    p_504_after: float = 0.0
    p_503_before: float = 0.0
    p_drop_before: float = 0.0
    p_drop_after: float = 0.0
    latency_s: float = 0.0
    latency_spike_p: float = 0.0
    latency_spike_s: float = 0.0
    p_lose: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        probs = {
            "p_500_after": self.p_500_after,
            "p_502_after": self.p_502_after,
            "p_504_after": self.p_504_after,
            "p_503_before": self.p_503_before,
            "p_drop_before": self.p_drop_before,
            "p_drop_after": self.p_drop_after,
            "latency_spike_p": self.latency_spike_p,
            "p_lose": self.p_lose,
        }
        for name, p in probs.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], not {p!r}")
        if self.p_503_before + self.p_drop_before > 1.0:
            raise ValueError("the 'before' fault probabilities add up to more than 1")
        after = self.p_500_after + self.p_502_after + self.p_504_after + self.p_drop_after
        if after > 1.0:
            raise ValueError("the 'after' fault probabilities add up to more than 1")
        if self.latency_s < 0 or self.latency_spike_s < 0:
            raise ValueError("latencies must be >= 0")

    @property
    def active(self) -> bool:
        """Whether any random draw is needed at all (keeps the hot path cheap)."""
        return any(
            (
                self.p_500_after,
                self.p_502_after,
                self.p_504_after,
                self.p_503_before,
                self.p_drop_before,
                self.p_drop_after,
                self.latency_spike_p,
            )
        )


@dataclass(frozen=True)
class SandboxConfig:
    """What the emulated Amplitude project enforces.

    Sizes: a body of ``http_body_limit`` bytes or more gets a 413 on HTTP V2
    (reference, "Limits": "under 1 MB"), ``batch_body_limit`` on Batch ("under 20 MB");
    ``http_event_limit`` events or more get a 413 on HTTP V2 ("fewer than 2000").
    ``None`` switches a limit off.

    Rates: a partition (the event's ``device_id``, else its ``user_id``) is throttled
    (429) when it has more than ``eps * window_s`` ingested events within the last
    ``window_s`` seconds, ``eps`` being ``device_eps`` on HTTP V2 and
    ``batch_device_eps`` on Batch (reference, "Limits"). ``limit_mode="history"``
    (Amplitude's behaviour: it measures a rate, so one request may overshoot and the
    *next* one is throttled) looks only at events already ingested; ``"strict"`` adds
    the request's own events, so any request that would overshoot is refused (an
    oracle for "the client never exceeds its budget"). ``daily_quota`` (events per
    partition per UTC day) uses the same mode.

    Project-wide rates (reference, "Limits", Starter plan: 100 requests/s and 1000
    events/s for the whole project): ``project_rps`` requests and ``project_eps``
    events over the last ``project_window_s`` seconds, counting accepted requests,
    in the same mode; over them, a 429 that names no device or user. None (the
    default, like Growth/Enterprise) switches them off.

    ``api_keys``: when set, other keys get "Invalid API key". Never shown by ``repr``.

    The Export API (``GET /api/2/export``, see ``_export``): Basic auth with an API
    key (checked against ``api_keys`` when set) and a secret key (against
    ``secret_keys`` when set, never shown); an hour's events are exportable
    ``export_delay_s`` after the start of the hour they arrived in (0 by default, so
    that trying things out needs no waiting; Amplitude's is about 3 h: set
    ``3 * 3600`` to rehearse it); ``export_events_per_file`` lines per gzipped file (several
    files per hour); member names use ``project_id``; exports over
    ``export_size_limit`` compressed bytes get a 400. Faults: ``export_504_over_hours``
    answers 504 to ranges of more hours (0: to every export); ``export_truncate`` cuts every export zip
    in half.

    Identify and Group Identify (identify-api.md): a form body of
    ``identify_body_limit`` bytes or more gets a 413, and so do more than
    ``identify_object_limit`` identifications or, for groups, more than
    ``group_property_limit`` group properties in one request; a user's updates
    beyond ``identify_hourly_limit`` in an hour are dropped. Identify is throttled
    per user with ``device_eps`` / ``window_s`` / ``limit_mode`` ("as HTTP V2").
    ``keep_events=False`` keeps no properties either (counters only).
    """

    api_keys: frozenset[str] | None = field(default=None, repr=False)
    http_body_limit: int | None = 1_000_000
    batch_body_limit: int | None = 20_000_000
    http_event_limit: int | None = 2000
    batch_event_limit: int | None = None
    device_eps: float = 30.0
    batch_device_eps: float = 1000.0
    window_s: float = 30.0
    limit_mode: LimitMode = "history"
    silenced_devices: frozenset[str] = frozenset()
    daily_quota: int | None = None
    daily_quota_status: int = 400
    project_eps: float | None = None
    project_rps: float | None = None
    project_window_s: float = 1.0
    dedup_window_s: float = 7 * 86_400.0
    default_min_id_length: int = DEFAULT_MIN_ID_LENGTH
    faults: Faults = Faults()
    keep_events: bool = True
    log_limit: int = 100_000
    secret_keys: frozenset[str] | None = field(default=None, repr=False)
    project_id: int = 100_000
    export_delay_s: float = 0.0
    export_events_per_file: int = 10_000
    export_size_limit: int = 4 * 1024**3
    export_504_over_hours: int | None = None
    export_truncate: bool = False
    identify_body_limit: int | None = 1_000_000
    identify_object_limit: int | None = 1024
    group_property_limit: int | None = 1024
    identify_hourly_limit: int | None = 1800

    def __post_init__(self) -> None:
        # Accept any iterable of strings for the sets (a list is the natural literal).
        if self.api_keys is not None and not isinstance(self.api_keys, frozenset):
            object.__setattr__(self, "api_keys", frozenset(self.api_keys))
        if self.secret_keys is not None and not isinstance(self.secret_keys, frozenset):
            object.__setattr__(self, "secret_keys", frozenset(self.secret_keys))
        if self.export_delay_s < 0 or self.export_events_per_file < 1 or self.export_size_limit < 1:
            raise ValueError("export_delay_s must be >= 0, export_events_per_file and export_size_limit >= 1")
        if self.export_504_over_hours is not None and self.export_504_over_hours < 0:
            raise ValueError("export_504_over_hours must be >= 0 (0: every export is a 504), or None")
        if not isinstance(self.silenced_devices, frozenset):
            object.__setattr__(self, "silenced_devices", frozenset(self.silenced_devices))
        if self.device_eps <= 0 or self.batch_device_eps <= 0 or self.window_s <= 0:
            raise ValueError("device_eps, batch_device_eps and window_s must be > 0")
        if self.limit_mode not in ("history", "strict"):
            raise ValueError(f"limit_mode must be 'history' or 'strict', not {self.limit_mode!r}")
        for name in ("project_eps", "project_rps"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 or None")
        if self.project_window_s <= 0:
            raise ValueError("project_window_s must be > 0")
        if self.daily_quota_status not in (400, 429):
            raise ValueError("daily_quota_status must be 400 or 429")

    def replace(self, **changes: Any) -> SandboxConfig:
        return replace(self, **changes)

    def __repr__(self) -> str:
        # dataclass repr minus api_keys (field(repr=False)), plus how many keys there are.
        keys = "any" if self.api_keys is None else f"{len(self.api_keys)} key(s)"
        secrets = "any" if self.secret_keys is None else f"{len(self.secret_keys)} key(s)"
        return (
            f"SandboxConfig(api_keys=<{keys}>, secret_keys=<{secrets}>, http_body_limit={self.http_body_limit}, "
            f"batch_body_limit={self.batch_body_limit}, http_event_limit={self.http_event_limit}, "
            f"device_eps={self.device_eps}, batch_device_eps={self.batch_device_eps}, "
            f"window_s={self.window_s}, limit_mode={self.limit_mode!r}, "
            f"silenced_devices={sorted(self.silenced_devices)}, daily_quota={self.daily_quota}, "
            f"project_eps={self.project_eps}, project_rps={self.project_rps}, "
            f"export_delay_s={self.export_delay_s}, export_504_over_hours={self.export_504_over_hours}, "
            f"export_truncate={self.export_truncate}, faults={self.faults!r})"
        )
