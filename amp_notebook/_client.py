"""The one async upload loop.

It takes encoded events, asks the device-aware :class:`Scheduler` for the next
request, sends it with httpx, hands the answer to the endpoint's pure reader
(:class:`~._wire.Wire`: :func:`interpret` for HTTP V2 and Batch), and carries
out the decision: count, reject, resend, split, pause, retry. Everything that
differs between endpoints (body format, content type, limits, reading an
answer) comes from the Wire in :class:`ClientSettings`: one loop for all. It writes every row's fate into the :class:`RowLedger`
and emits :class:`ProgressUpdate` snapshots; it never imports a widget.

The clock, sleep, rng and HTTP transport are injected, so tests drive it
against the in-process sandbox without sleeping (design.md, principles 3 and 7).
"""

from __future__ import annotations

import asyncio
import heapq
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import count

import httpx

from ._batching import Batch
from ._config import ApiKey, Endpoint, Limits, Pacing, is_loopback
from ._encoding import EncodedChunk
from ._estimate import tightening_note
from ._logging import logger, register_secret
from ._plan import PartitionPlan
from ._progress_model import Phase, ProgressSink, ProgressUpdate
from ._responses import Outcome, Rejection, refused_on_loopback
from ._result import FAILED, INGESTED, REJECTED, RowLedger
from ._retry import RetryPolicy
from ._scheduler import Scheduler
from ._wire import JSON_EVENTS, Wire

USER_AGENT = "amp_notebook"


@dataclass(frozen=True)
class ClientSettings:
    endpoint: Endpoint
    api_key: ApiKey = field(repr=False)
    options: Mapping[str, object] | None = None
    limits: Limits = field(default_factory=Limits)
    pacing: Pacing = field(default_factory=Pacing)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 4
    timeout: httpx.Timeout = field(
        default_factory=lambda: httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=60.0)
    )
    transport: httpx.AsyncBaseTransport | None = None
    # Events held by the scheduler at once: enough look-ahead to fill requests
    # with other devices' events while busy devices wait, bounded for memory,
    # by count, by payload bytes (large events: 200,000 of 5 KB would be 1 GB) and
    # by devices with events pending (~1 KB of state each: 200,000 events of
    # 200,000 devices would be 200 MB; 50,000 still fill 25 full requests).
    lookahead: int = 200_000
    lookahead_bytes: int = 64 * 1024 * 1024
    lookahead_partitions: int = 50_000
    # The endpoint's body format and answer reading (HTTP V2 / Batch JSON by default).
    wire: Wire = JSON_EVENTS
    # A refused row's message: the upload names the columns behind the keys Amplitude
    # blamed (``_blame.naming_columns``); by default the rejection's own message.
    describe: Callable[[Rejection], str] | None = None


def _own_message(rejection: Rejection) -> str:
    return rejection.message


class StopUpload(Exception):
    """A request-level refusal (bad key, bad JSON): the loop stops. Carries the decision."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error or "request rejected")
        self.outcome = outcome


@dataclass
class _Origin:
    """A batch as the scheduler gave it, and the requests still carrying its events.

    Retries, 413 halves and partial resends carry the same origin; when the last
    of them is settled, the scheduler is told (``done``) and the batch's devices
    may send again: one request in flight per device keeps each device's events
    in time order at the server.
    """

    batch: Batch
    first_try: float
    live: int = 1


@dataclass(order=True)
class _Retry:
    ready_at: float
    seq: int
    batch: Batch = field(compare=False)
    attempt: int = field(compare=False)
    origin: _Origin = field(compare=False)


@dataclass
class _Answer:
    batch: Batch
    attempt: int
    origin: _Origin
    request: int
    status: int | None
    body: bytes | None
    headers: Mapping[str, str]
    error: str | None  # network error's type name; never the exception (it holds the body)


class Uploader:
    """Sends every event once, as fast as the limits allow, and settles every row."""

    def __init__(
        self,
        settings: ClientSettings,
        ledger: RowLedger,
        *,
        total: int,
        skipped: int = 0,
        sink: ProgressSink | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        plan: PartitionPlan | None = None,
        pacing_hint: str | None = None,
    ) -> None:
        self.settings = settings
        self.pacing_hint = pacing_hint  # what pacing costs at least, for the progress line
        self.ledger = ledger
        self.total = total
        self.skipped = skipped
        self.sink = sink
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.envelope = settings.wire.scheduler_envelope(settings.api_key.reveal(), settings.options, settings.limits)
        # plan: events per device in the whole upload, so that devices no pacing rule
        # can hold back need no state of their own (None: every device is paced).
        self.scheduler = Scheduler(settings.limits, settings.pacing, self.envelope, hold_in_flight=True, plan=plan)
        self._retries: list[_Retry] = []
        self._seq = count()
        self._chunks: Iterator[EncodedChunk] | None = None
        self._exhausted = False
        self._started = 0.0
        self._last_progress = 0.0  # when an event was last settled (the stall guard)
        self._waiting_s = 0.0
        # One request at a time until an answer that is not a 413 (at the start, and
        # after each 413): a wrong body limit or a bad key then costs one request,
        # not a round of ``concurrency`` large ones.
        self._probing = True
        self._eps_threshold: float | None = None  # the lowest rate a 429 named
        self._retrying = ""  # what the last retry was after, for progress views
        self._loopback = is_loopback(httpx.URL(settings.endpoint.url).host)
        # Requests sent and not yet answered (request number -> batch): after a stop or an
        # interrupt, these may or may not have been applied (see unanswered()).
        self._unanswered: dict[int, Batch] = {}
        register_secret(settings.api_key)

    # -- the loop -------------------------------------------------------------
    async def run(self, chunks: Iterator[EncodedChunk]) -> None:
        self._chunks = chunks
        self._started = self._last_progress = self.clock()
        s = self.settings
        limits = httpx.Limits(max_connections=s.concurrency, max_keepalive_connections=s.concurrency)
        inflight: set[asyncio.Task[_Answer]] = set()
        async with httpx.AsyncClient(
            transport=s.transport,
            timeout=s.timeout,
            limits=limits,
            trust_env=True,  # honour HTTPS_PROXY / SSL_CERT_FILE like every httpx client
            headers={"Content-Type": s.wire.content_type, "Accept": "*/*", "User-Agent": USER_AGENT},
        ) as client:
            try:
                await self._loop(client, inflight)
            finally:
                for task in inflight:
                    task.cancel()
                if inflight:
                    await asyncio.gather(*inflight, return_exceptions=True)
        self._emit("done")

    async def _loop(self, client: httpx.AsyncClient, inflight: set[asyncio.Task[_Answer]]) -> None:
        concurrency = self.settings.concurrency
        budget = self.settings.retry.budget_s
        while True:
            self._refill()
            now = self.clock()
            if now - self._last_progress > budget:
                # Nothing settled for the whole retry budget (e.g. a server that
                # throttles forever): stop, and say so for every row still open.
                self.ledger.fail_pending(
                    "stalled",
                    f"no event was accepted or refused for {budget:.0f} s (retry budget); "
                    + self.settings.wire.resend_note,
                )
                return
            while len(inflight) < (1 if self._probing else concurrency):
                job = self._next_job(now)
                if job is None:
                    break
                batch, attempt, origin = job
                inflight.add(asyncio.ensure_future(self._send(client, batch, attempt, origin)))
            if not inflight:
                wake = self._wake_time(now)
                if wake is None:
                    if self.scheduler.pending() == 0 and not self._retries and self._exhausted:
                        return
                    # Events pending that can never be scheduled: should not happen;
                    # never drop them silently.
                    self.ledger.fail_pending("not_scheduled", "the scheduler could not place these events")
                    return
                self._waiting_s = max(0.0, wake - now)
                self._emit("waiting")
                await self.sleep(self._waiting_s)
                self._waiting_s = 0.0
                continue
            wake = self._wake_time(now) if len(inflight) < (1 if self._probing else concurrency) else None
            timeout = None if wake is None else max(0.0, wake - now)
            done, _ = await asyncio.wait(inflight, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                inflight.discard(task)
                self._settle(task.result())
            self._emit("sending")

    def _refill(self) -> None:
        """Read chunks into the scheduler while the look-ahead has room."""
        while self._room():
            assert self._chunks is not None
            self._add(next(self._chunks, None))

    def _room(self) -> bool:
        s, sched = self.settings, self.scheduler
        return (
            not self._exhausted
            and sched.pending() < s.lookahead
            and sched.pending_bytes() < s.lookahead_bytes
            and sched.live_partitions() < s.lookahead_partitions
        )

    def _add(self, chunk: EncodedChunk | None) -> None:
        if chunk is None:
            self._exhausted = True
            return
        # Reading input counts as progress for the stall guard: encoding a large
        # look-ahead on a slow machine is not the server stalling.
        self._last_progress = self.clock()
        s = self.settings
        for oversize in self.scheduler.add(chunk):
            self.ledger.mark([oversize.position], REJECTED, *s.wire.too_large(oversize.nbytes, s.limits))

    def _next_job(self, now: float) -> tuple[Batch, int, _Origin] | None:
        if self._retries and self._retries[0].ready_at <= now:
            item = heapq.heappop(self._retries)
            # Built before a 413 taught a lower limit: cut to it first.
            first, *rest = item.batch.pieces(*self.scheduler.request_limits())
            item.origin.live += len(rest)
            for piece in rest:
                self._push(piece, item.attempt, item.origin, item.ready_at)
            return first, item.attempt, item.origin
        batch = self.scheduler.next_batch(now)
        if batch is None:
            return None
        return batch, 0, _Origin(batch, now)

    def _wake_time(self, now: float) -> float | None:
        times = [self._retries[0].ready_at] if self._retries else []
        ready = self.scheduler.ready_at(now)
        if ready is not None:
            times.append(ready)
        return min(times) if times else None

    async def _send(self, client: httpx.AsyncClient, batch: Batch, attempt: int, origin: _Origin) -> _Answer:
        s = self.settings
        self.ledger.requests += 1
        request = self.ledger.requests
        self._unanswered[request] = batch
        # The only place the key is revealed: into the body, which is never kept,
        # logged or attached to an exception.
        body = s.wire.body(batch, s.api_key.reveal(), s.options)
        try:
            response = await client.post(s.endpoint.url, content=body)
            return _Answer(batch, attempt, origin, request, response.status_code,
                           response.content, dict(response.headers), None)
        except httpx.TransportError as exc:  # timeouts, refused, dropped connections
            return _Answer(batch, attempt, origin, request, None, None, {}, type(exc).__name__)
        finally:
            del body

    # -- carrying out the decision -------------------------------------------
    def _settle(self, answer: _Answer) -> None:
        batch, ledger = answer.batch, self.ledger
        self._unanswered.pop(answer.request, None)
        status_label = str(answer.status) if answer.status is not None else (answer.error or "network error")
        ledger.server_answers[status_label] += 1
        outcome = refused_on_loopback(answer.error, self._loopback, len(batch)) or self.settings.wire.read(
            answer.status, answer.body, answer.headers, batch, self.settings.retry)
        positions = batch.positions
        now = self.clock()

        if outcome.ingested or outcome.rejected or outcome.failed:
            self._last_progress = now
        if outcome.ingested:
            ledger.mark([positions[i] for i in outcome.ingested], INGESTED, request=answer.request)
        describe = self.settings.describe or _own_message
        if outcome.rejected:
            ledger.mark_each(
                [(positions[r.index], r.reason, describe(r)) for r in outcome.rejected],
                REJECTED, request=answer.request,
            )
        if outcome.failed:
            ledger.mark_each(
                [(positions[r.index], r.reason, r.message) for r in outcome.failed],
                FAILED, request=answer.request,
            )

        if outcome.kind == "fatal":
            raise StopUpload(outcome)
        self._probing = outcome.kind == "split" and outcome.shrink  # a 413: probe the size again
        if outcome.kind == "split":
            ledger.splits += 1
            if outcome.shrink:
                # Later requests would be too large too: shrink the body limit to what
                # got refused, halved, so one 413 does not become one per request.
                body_size = self.envelope + batch.nbytes
                self.scheduler.shrink(max_body_bytes=max(1024, body_size // 2))
            if len(batch) > 1:
                answer.origin.live += 1  # two halves carry it now
                for half in batch.split():
                    self._push(half, answer.attempt, answer.origin, now)
            else:
                self._release(answer.origin)
            return
        if outcome.kind == "throttled" or (outcome.kind == "partial" and outcome.throttled):
            if outcome.kind == "throttled":
                ledger.throttled += 1
            if outcome.pause:
                ledger.pauses += len(outcome.pause)
                self.scheduler.pause({p: now + secs for p, secs in outcome.pause.items()})
                self._tighten(outcome, now)
            if outcome.resend:
                # Back through the scheduler, so the paused devices wait and the others go on.
                self.scheduler.requeue(batch.take(outcome.resend))
            self._release(answer.origin)
            return
        if outcome.kind == "retry":
            self._retry(batch, answer, outcome, status_label, now)
            return
        if outcome.resend:  # partial: the rest goes again in a new request
            self._push(batch.take(outcome.resend), answer.attempt, answer.origin, now)
        else:
            self._release(answer.origin)

    def _tighten(self, outcome: Outcome, now: float) -> None:
        """Amplitude throttled these devices although they kept its documented rate: pace
        them strictly from now on, and every device once ``tighten_all_after`` were (issue 11)."""
        pacing = self.settings.pacing
        eps = outcome.eps_threshold
        if eps is not None:
            self._eps_threshold = eps if self._eps_threshold is None else min(eps, self._eps_threshold)
        self.scheduler.tighten(outcome.pause, now, eps=eps)
        devices, everyone = self.scheduler.tightened()
        if not everyone and devices >= pacing.tighten_all_after:
            self.scheduler.tighten((), now, eps=self._eps_threshold, everyone=True)
            everyone = True
        note = tightening_note(devices, everyone, pacing, self._eps_threshold)
        if note != self.ledger.pacing_note:
            logger.info("%s", note)
        self.ledger.pacing_note = note

    def _retry(self, batch: Batch, answer: _Answer, outcome: Outcome, label: str, now: float) -> None:
        policy = self.settings.retry
        attempt = answer.attempt + 1
        target = batch.take(outcome.resend) if outcome.resend else batch
        first_try = answer.origin.first_try
        if policy.give_up(attempt, now - first_try):
            self.ledger.mark(
                target.positions, FAILED, f"retries_exhausted: {label}",
                f"no success after {attempt} attempts over {now - first_try:.0f} s "
                f"(last answer: {label}); {self.settings.wire.resend_note}",
                request=answer.request,
            )
            self._release(answer.origin)
            return
        self.ledger.retries += 1
        self._retrying = label
        delay = policy.delay(attempt, self.rng, outcome.retry_after)
        logger.debug("retrying %d events after %s in %.2f s", len(target), label, delay)
        self._push(target, attempt, answer.origin, now + delay)

    def _push(self, batch: Batch, attempt: int, origin: _Origin, ready_at: float) -> None:
        heapq.heappush(self._retries, _Retry(ready_at, next(self._seq), batch, attempt, origin))

    def _release(self, origin: _Origin) -> None:
        origin.live -= 1
        if origin.live == 0:
            # Booked at the answer: the events arrived before it (module _throttle).
            self.scheduler.done(origin.batch, self.clock())

    # -- progress ---------------------------------------------------------------
    def snapshot(self, phase: Phase) -> ProgressUpdate:
        ledger = self.ledger
        ingested, rejected, failed = ledger.count(INGESTED), ledger.count(REJECTED), ledger.count(FAILED)
        return ProgressUpdate(
            total=self.total,
            sent=ingested + rejected + failed,
            ingested=ingested,
            rejected=rejected,
            failed=failed,
            skipped=self.skipped,
            requests=ledger.requests,
            retries=ledger.retries,
            throttled=ledger.throttled,
            paused_partitions=self.scheduler.paused(self.clock()),
            waiting_s=self._waiting_s,
            elapsed_s=self.clock() - self._started,
            phase=phase,
            pacing=self.pacing_hint,
            tightened=ledger.pacing_note,
            retrying=self._retrying,
            unit=self.settings.wire.unit,
        )

    def _emit(self, phase: Phase) -> None:
        if self.sink is not None:
            self.sink(self.snapshot(phase))

    def unanswered(self) -> list[Batch]:
        """Batches whose request went out and got no answer the loop acted on (in flight when
        the upload stopped or was interrupted): Amplitude may or may not have applied them."""
        return list(self._unanswered.values())
