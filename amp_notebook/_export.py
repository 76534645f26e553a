"""Fetching an export: the hours split into queries, each answer streamed to a
temporary file and read member by member. IO (httpx; this module is imported lazily).

Public Export API docs, and what is done about each point:

* at most 365 days per query: longer ranges are split before asking;
* 504 on very large ranges, and 400 when an export is over 4 GB: the range is
  halved and each half asked for (down to single hours);
* 404 when the range holds no data: no events, not an error;
* 401/403: the keys are refused (never shown); any other 4xx stops with
  Amplitude's error text; 429, 5xx and network errors are retried with backoff
  (``RetryPolicy``) and end in :class:`ExportError` when the retries run out.

An answer cut short in the middle of its body is retried like a network error;
a complete answer that is not a whole zip (no central directory, a damaged
member) raises :class:`ExportError` at once. Neither is ever read as "no events". Nothing larger than a batch of lines is held in
memory: the zip goes to a temporary file that is deleted once read.
"""

from __future__ import annotations

import random
import tempfile
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, Any, Literal

import httpx
import pandas as pd

from . import _session
from ._config import (
    ApiKey,
    SecretKey,
    checked_url,
    hide_key,
    hide_secret_key,
    resolve_api_key,
    resolve_secret_key,
)
from ._exceptions import ConfigurationError, ExportError
from ._export_frame import events_frame
from ._export_hours import MAX_QUERY_HOURS, HourLike, HourRange, to_hour
from ._export_http import Answer, download
from ._export_zip import ReadStats, iter_event_batches
from ._logging import register_secret
from ._retry import RetryPolicy

# Public Export API docs, "Endpoints".
EXPORT_URLS = {
    "us": "https://amplitude.com/api/2/export",
    "eu": "https://analytics.eu.amplitude.com/api/2/export",
}
_RETRYABLE = frozenset({0, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class ExportTarget:
    """Where exports come from: the URL and a name for summaries."""

    url: str
    label: str


def resolve_export_target(region: str | None = "us", export_endpoint: str | None = None) -> ExportTarget:
    """The region's Export API, or a custom URL (https, or http on loopback only)."""
    if export_endpoint is None:
        name = str(region or "us").lower()
        if name not in EXPORT_URLS:
            raise ConfigurationError(f"region must be 'us' or 'eu', not {region!r}")
        return ExportTarget(EXPORT_URLS[name], f"Export API ({name.upper()})")
    parts = checked_url(export_endpoint, "export_endpoint",
                        "the API key and secret key travel in the Authorization header")
    return ExportTarget(export_endpoint, f"Export API ({parts.netloc})")


@dataclass(frozen=True)
class ExportAccess:
    """The Export API to ask and the keys to ask it with: the arguments, else the
    session's (see ``_session.merge_export_defaults``). ``read_export`` and
    ``result.verify`` both start here."""

    target: ExportTarget
    api_key: Any = field(repr=False)  # hidden (ApiKey) or None; the environment's when None
    secret_key: Any = field(repr=False)
    export_delay_s: float | None  # the sandbox's, when the export comes from the session's sandbox

    def fetcher(self, **options: Any) -> ExportFetcher:
        """An :class:`ExportFetcher` with these keys (``AMPLITUDE_API_KEY`` /
        ``AMPLITUDE_SECRET_KEY`` when none was given): a clear error when a key is missing."""
        key = resolve_api_key(self.api_key)
        secret = resolve_secret_key(self.secret_key)
        assert key is not None and secret is not None
        return ExportFetcher(self.target, key, secret, **options)


def export_access(
    api_key: object, secret_key: object, region: str | None, export_endpoint: str | None
) -> ExportAccess:
    """Where to ask and with which keys (the keys are checked when the fetcher is made).

    The callers hide the keys (``hide_key``/``hide_secret_key``) first thing, before
    anything can raise: a verbose traceback prints every frame's locals."""
    given = _session.merge_export_defaults(api_key, secret_key, region, export_endpoint)
    target = resolve_export_target(given["region"], given["export_endpoint"])
    return ExportAccess(target, given["api_key"], given["secret_key"], given["export_delay_s"])


@dataclass
class FetchStats:
    """Requests made, ranges split, and what was read."""

    requests: int = 0
    splits: int = 0
    read: ReadStats = field(default_factory=ReadStats)


_Step = Literal["read", "empty", "split"]


class ExportFetcher:
    """Streams the exported events of some hours, batch by batch (see the module docstring)."""

    def __init__(
        self,
        target: ExportTarget,
        api_key: ApiKey,
        secret_key: SecretKey,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_hours: int = MAX_QUERY_HOURS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if max_hours < 1 or max_hours > MAX_QUERY_HOURS:
            raise ConfigurationError(f"max_hours must be between 1 and {MAX_QUERY_HOURS:,} (365 days)")
        self.target = target
        self._api_key = api_key
        self._secret_key = secret_key
        register_secret(api_key)  # masked in the package's logs from now on
        register_secret(secret_key)
        self._transport = transport
        self.retry = retry or RetryPolicy()
        # Exports are large and built on demand: wait long for the first byte.
        self._timeout = httpx.Timeout(float(timeout)) if isinstance(timeout, (int, float)) else (
            timeout or httpx.Timeout(30.0, read=600.0)
        )
        self.max_hours = max_hours
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self.stats = FetchStats()

    def __repr__(self) -> str:
        return f"ExportFetcher({self.target.label}, requests={self.stats.requests})"

    def batches(self, hours: HourRange) -> Iterator[list[dict[str, Any]]]:
        """Every exported event of ``hours``, in lists of lines, range after range."""
        pending = deque(hours.split(self.max_hours))
        with httpx.Client(transport=self._transport, timeout=self._timeout) as client:
            while pending:
                part = pending.popleft()
                with tempfile.TemporaryFile(prefix="amp-notebook-export-") as spool:
                    step = self._fetch(client, part, spool)
                    if step == "split":
                        self.stats.splits += 1
                        pending.extendleft(reversed(part.halves()))
                        continue
                    if step == "empty":
                        continue
                    spool.seek(0)
                    yield from iter_event_batches(spool, self.stats.read)

    def _fetch(self, client: httpx.Client, hours: HourRange, spool: IO[bytes]) -> _Step:
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            spool.seek(0)
            spool.truncate()
            answer = download(client, self.target.url, hours, self._api_key, self._secret_key, spool)
            self.stats.requests += 1
            step = self._decide(answer, hours)
            if step is not None:
                return step
            delay = self.retry.delay(attempt, self._rng, answer.retry_after)
            if self.retry.give_up(attempt, self._clock() - started, delay):
                raise ExportError(
                    f"the Export API gave no complete export of {hours} after {attempt} "
                    f"tr{'y' if attempt == 1 else 'ies'} ({_describe(answer)}); nothing was compared: "
                    "try again later",
                    status=answer.status or None, hours=str(hours),
                )
            self._sleep(delay)

    def _decide(self, answer: Answer, hours: HourRange) -> _Step | None:
        """What to do with an answer; None: retry it."""
        status = answer.status
        if status == 200:
            return "read"
        if status == 404:
            return "empty"  # the docs: no data in the range
        too_large = status == 400 and "size" in (answer.error or "").lower()
        if (status == 504 or too_large) and hours.hours > 1:
            return "split"
        if too_large:
            raise ExportError(
                f"the export of the single hour {hours} is over Amplitude's 4 GB limit: "
                "use Amplitude's Amazon S3 export for it", status=status, hours=str(hours),
            )
        if status in (401, 403):
            raise ExportError(
                f"the Export API refused the keys ({status}; the keys are not shown): check the "
                "project's API key and secret key (Settings > Projects > General) and the region",
                status=status, hours=str(hours),
            )
        if status in _RETRYABLE:
            return None
        raise ExportError(
            f"the Export API refused the query for {hours}: {status} {answer.error or ''}".rstrip(),
            status=status, hours=str(hours),
        )


def warn_if_early(hours: HourRange, now: float, delay_s: float | None = None, stacklevel: int = 3) -> bool:
    """Warn (and say True) when the last hours' data may not be exportable yet."""
    ready = hours.available_at(delay_s)
    if now >= ready:
        return False
    when = datetime.fromtimestamp(ready, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    warnings.warn(
        f"the export of {hours} may be incomplete: Amplitude makes data exportable about 2 hours "
        f"after the hour it arrived in (complete from about {when}); what is there is used",
        UserWarning, stacklevel=stacklevel,
    )
    return True


def read_export(
    start: HourLike,
    end: HourLike | None = None,
    *,
    api_key: Any = None,
    secret_key: Any = None,
    region: str | None = None,
    export_endpoint: str | None = None,
    transport: httpx.BaseTransport | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | httpx.Timeout | None = None,
    max_hours: int = MAX_QUERY_HOURS,
    export_delay_s: float | None = None,
    _now: float | None = None,
) -> pd.DataFrame:
    """The events Amplitude received from hour ``start`` to hour ``end`` (both included, UTC;
    ``end`` defaults to ``start``), as a frame in upload shape (see ``_export_frame``).

    ``export_delay_s``: how long after the start of an hour its export is complete
    (None: Amplitude's documented ~3 h; a sandbox's ``SandboxConfig.export_delay_s``);
    asking earlier warns, and what is there is returned.
    """
    api_key, secret_key = hide_key(api_key), hide_secret_key(secret_key)  # before anything can raise
    access = export_access(api_key, secret_key, region, export_endpoint)
    hours = HourRange(to_hour(start, name="start"), to_hour(end if end is not None else start, name="end"))
    fetcher = access.fetcher(transport=transport, retry=retry, timeout=timeout, max_hours=max_hours)
    if export_delay_s is None:
        export_delay_s = access.export_delay_s
    warn_if_early(hours, time.time() if _now is None else _now, export_delay_s)
    return events_frame(fetcher.batches(hours))


def _describe(answer: Answer) -> str:
    if answer.status:
        return f"last answer {answer.status}" + (f": {answer.error}" if answer.error else "")
    return answer.error or "no answer"


__all__ = [
    "EXPORT_URLS",
    "ExportAccess",
    "ExportFetcher",
    "ExportTarget",
    "FetchStats",
    "export_access",
    "read_export",
    "resolve_export_target",
    "warn_if_early",
]
