"""Configuration values: the redacted API and secret keys, endpoints, limits and pacing.

Everything here is an immutable value. Numbers come from the reference
(``shared/reference/amplitude-api.md``, sections "Endpoints" and "Limits").
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Literal, TypeVar
from urllib.parse import SplitResult, urlsplit

from ._exceptions import ConfigurationError

Region = Literal["us", "eu"]
Api = Literal["http", "batch", "identify", "groupidentify"]

REDACTED = "**********"


class Secret:
    """A credential that never shows itself: the base of :class:`ApiKey` and :class:`SecretKey`.

    ``str``, ``repr``, ``format`` and pickling all give ``**********``; only
    :meth:`reveal` returns the value. (pydantic's ``SecretStr`` pattern, design.md
    principle 6.) The two kinds never compare equal and one cannot be made from the
    other, so a secret key is never sent where an API key goes.
    """

    __slots__ = ("_value",)
    _value: str
    what = "secret"

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            if type(value) is not type(self):
                raise ConfigurationError(f"a {value.what} cannot be used as the {self.what}")
            value = value.reveal()
        if not isinstance(value, str):
            raise ConfigurationError(f"the {self.what} must be a string")
        value = value.strip()
        if not value:
            raise ConfigurationError(f"the {self.what} is empty")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The value itself: only for a request (the body encoder, the Export API's Basic auth)."""
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and type(other) is type(self) and other.reveal() == self.reveal()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._value))

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write the value to disk or to another process: refuse.
        raise TypeError(f"{type(self).__name__} cannot be pickled")


class ApiKey(Secret):
    """An Amplitude project API key that never shows itself (see :class:`Secret`).

    Only the request-body encoder and the Export API's Basic auth read it.
    """

    __slots__ = ()
    what = "API key"


class SecretKey(Secret):
    """An Amplitude project secret key (Export API, with the API key), never shown (see :class:`Secret`)."""

    __slots__ = ()
    what = "secret key"


def hide_key(value: object) -> object:
    """A str key becomes an ApiKey at once: a verbose traceback (``%xmode Verbose``)
    prints every frame's arguments, so no frame below the caller's should hold the
    plain string. Anything else is returned as it is."""
    return ApiKey(value) if isinstance(value, str) and value.strip() else value


def hide_secret_key(value: object) -> object:
    """:func:`hide_key` for the secret key: a str becomes a :class:`SecretKey` at once."""
    return SecretKey(value) if isinstance(value, str) and value.strip() else value


_S = TypeVar("_S", bound=Secret)


def _from_env(kind: type[_S], value: str | _S | None, env: str, missing: str, required: bool) -> _S | None:
    """``value``, else the environment variable ``env``, as ``kind``; ``missing`` when neither."""
    if value is None:
        value = os.environ.get(env) or None
    if value is None:
        if required:
            raise ConfigurationError(missing)
        return None
    return kind(value)


def resolve_api_key(api_key: str | ApiKey | None, *, required: bool = True) -> ApiKey | None:
    """The key from the argument, else ``AMPLITUDE_API_KEY``; a clear error when neither."""
    return _from_env(
        ApiKey, api_key, "AMPLITUDE_API_KEY",
        "no Amplitude API key: pass api_key=..., set AMPLITUDE_API_KEY, "
        "or use %amplitude key in a notebook (dry_run=True needs no key)",
        required,
    )


def resolve_secret_key(secret_key: str | SecretKey | None, *, required: bool = True) -> SecretKey | None:
    """The secret key from the argument, else ``AMPLITUDE_SECRET_KEY``; a clear error when neither."""
    return _from_env(
        SecretKey, secret_key, "AMPLITUDE_SECRET_KEY",
        "no Amplitude secret key: the Export API needs the project's API key and secret key "
        "(Amplitude: Settings > Projects > General); pass secret_key=..., set "
        "AMPLITUDE_SECRET_KEY, or use %amplitude secret in a notebook",
        required,
    )


# Reference, "Endpoints".
_URLS: dict[tuple[str, str], str] = {
    ("us", "http"): "https://api2.amplitude.com/2/httpapi",
    ("eu", "http"): "https://api.eu.amplitude.com/2/httpapi",
    ("us", "batch"): "https://api2.amplitude.com/batch",
    ("eu", "batch"): "https://api.eu.amplitude.com/batch",
    # identify-api.md: "same hosts as HTTP V2".
    ("us", "identify"): "https://api2.amplitude.com/identify",
    ("eu", "identify"): "https://api.eu.amplitude.com/identify",
    ("us", "groupidentify"): "https://api2.amplitude.com/groupidentify",
    ("eu", "groupidentify"): "https://api.eu.amplitude.com/groupidentify",
}
_API_NAMES = {"http": "HTTP V2", "batch": "Batch", "identify": "Identify", "groupidentify": "Group Identify"}


def checked_url(url: str, option: str, what_travels: str) -> SplitResult:
    """``url`` split, if it is http(s) and not plain http:// off this machine: secrets
    (``what_travels``) are never sent in clear text beyond loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{option} must be an http(s) URL, not {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"refusing plain http:// to {parts.hostname}: {what_travels}, so only https:// is "
            "allowed except on loopback (127.0.0.1, localhost, ::1)"
        )
    return parts


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Endpoint:
    """Where requests go: a URL and which API (and so which limits) it speaks."""

    url: str
    api: Api = "http"
    region: Region | None = "us"

    @property
    def label(self) -> str:
        """Human name for summaries: "HTTP V2 (US)", "Batch (custom: 127.0.0.1:8000)"."""
        name = _API_NAMES[self.api]
        if self.region is not None:
            return f"{name} ({self.region.upper()})"
        return f"{name} ({urlsplit(self.url).netloc})"


# The APIs' paths (reference, "Endpoints"): a base URL gets one appended, and a URL
# that ends in one speaks that API.
API_PATHS: dict[str, str] = {
    "http": "/2/httpapi", "batch": "/batch", "identify": "/identify", "groupidentify": "/groupidentify",
}


def endpoint_api(url: str) -> str | None:
    """The API a URL's path names ("http" for .../2/httpapi, "batch" for .../batch), else None."""
    path = urlsplit(url).path.rstrip("/")
    for api, suffix in API_PATHS.items():
        if path.endswith(suffix):
            return api
    return None


def _with_api_path(endpoint: str, api: str) -> tuple[str, str]:
    """(url, api): a base URL (no path) gets ``api``'s path; a path naming an API decides it.

    ``amp-notebook sandbox`` prints its base URL first, and people paste it; sending to
    it as it is would fail every row with 404 "Not found" (issue 17). Another path (a
    proxy of the user's) is kept, with the API asked for.
    """
    parts = urlsplit(endpoint)
    if parts.path.strip("/") == "":
        return parts._replace(path=API_PATHS[api]).geturl(), api
    return endpoint, endpoint_api(endpoint) or api


def resolve_endpoint(
    region: str = "us", api: str = "http", endpoint: str | None = None, *, apis: tuple[str, ...] = ("http", "batch")
) -> Endpoint:
    """Check region/api and pick the URL; refuse plain http:// anywhere but loopback.

    ``endpoint`` may be a base URL (``http://127.0.0.1:8000``: the API's path is
    appended) or a full URL, whose path (``/2/httpapi``, ``/batch``) then says the API.
    ``apis``: the APIs the caller sends to (events: http or batch; identify passes its
    own); a URL whose path names another API is refused.
    """
    region_l, api_l = str(region).lower(), str(api).lower()
    if api_l not in apis:
        raise ConfigurationError(f"api must be 'http' (HTTP V2) or 'batch' (Batch Event Upload), not {api!r}")
    if endpoint is None:
        if region_l not in ("us", "eu"):
            raise ConfigurationError(f"region must be 'us' or 'eu', not {region!r}")
        return Endpoint(_URLS[(region_l, api_l)], api_l, region_l)  # type: ignore[arg-type]
    checked_url(endpoint, "endpoint", "the API key travels in the request body")
    url, api_l = _with_api_path(endpoint, api_l)
    if api_l not in apis:
        raise ConfigurationError(
            f"endpoint {url!r} is the {_API_NAMES[api_l]} API's path; this sends to "
            + " or ".join(f"{_API_NAMES[a]} ({API_PATHS[a]})" for a in apis)
        )
    return Endpoint(url, api_l, None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Limits:
    """Request limits (reference, "Limits").

    HTTP V2: "fewer than 2000" events and "under 1 MB" per request.
    Batch: "under 20 MB"; it has no documented event count, so the same 2000 cap
    keeps one bad request small.
    """

    max_events: int = 1999
    max_body_bytes: int = 1_000_000 - 1

    def __post_init__(self) -> None:
        if self.max_events < 1:
            raise ConfigurationError("max_events per request must be at least 1")
        if self.max_body_bytes < 1024:
            raise ConfigurationError("max_body_bytes must be at least 1024")

    @classmethod
    def for_api(cls, api: str) -> Limits:
        if api == "batch":
            return cls(max_events=1999, max_body_bytes=20_000_000 - 1)
        return cls()


@dataclass(frozen=True)
class Pacing:
    """Rates to stay under, so that a well-formed upload gets no 429.

    ``device_eps`` over ``window_s``: per device_id (or user_id), reference "Limits":
    HTTP V2 about 30 events/s averaged over about 30 s; Batch 1000 events/s.
    ``project_eps`` / ``project_rps``: project-wide caps (None = none), e.g. Starter.
    ``safety``: the share of each documented rate we allow ourselves, to absorb
    clock differences between us and the server.

    By default a device may send its whole window budget at once, as documented
    (``_throttle``). ``strict=True`` also spreads each device's events over the
    window (at most a thirtieth of the budget per thirtieth of the window: 29
    events/s on HTTP V2), for servers stricter than documented. Without it, the
    upload turns strict by itself for the devices Amplitude throttles (a 429 or a
    silenced 400 naming them), and for every device once ``tighten_all_after``
    devices have been throttled.
    """

    device_eps: float = 30.0
    window_s: float = 30.0
    project_eps: float | None = None
    project_rps: float | None = None
    safety: float = 0.95
    strict: bool = False
    tighten_all_after: int = 10

    @classmethod
    def for_api(cls, api: str) -> Pacing:
        return cls(device_eps=1000.0) if api == "batch" else cls()


# Amplitude pricing tiers (reference, "Limits": Starter plan, whole project).
# Not the `plan` event key, which is the tracking plan.
TIERS: dict[str, dict[str, float | int | None]] = {
    "starter": {"max_events": 10, "project_eps": 1000.0, "project_rps": 100.0},
    "growth": {"max_events": 1999, "project_eps": None, "project_rps": None},
    "enterprise": {"max_events": 1999, "project_eps": None, "project_rps": None},
}


def tier_settings(tier: str | None) -> dict[str, float | int | None]:
    if tier is None:
        return {}
    try:
        return dict(TIERS[tier.lower()])
    except KeyError:
        raise ConfigurationError(f"tier must be one of {sorted(TIERS)}, not {tier!r}") from None
