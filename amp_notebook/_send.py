"""Send a plan through the one upload loop and settle the result: the steps every endpoint shares.

An upload is ``plan -> send -> settle``. ``upload`` (events, ``_upload.plan``) and
``identify`` / ``group_identify`` (``_identify_upload.plan``) plan differently (their
own mapping, validation and encoding) into one :class:`UploadPlan`; then
:func:`send` runs the :class:`~._client.Uploader` with a progress sink (a dry run
counts the requests instead: :func:`count_requests`), and :func:`settle` builds the
result on every way out (done, a request-level refusal, an interrupt, any other
error): every row settled with a reason, the result kept for :func:`last_result`.
What resending means is the Wire's to say (``settings.wire``): rows of a request
left without an answer are marked by ``wire.unanswered`` (Identify: an add in flight
may have been applied).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pandas as pd

from ._batching import Batch, chunk
from ._client import ClientSettings, StopUpload, Uploader
from ._config import ApiKey, Endpoint, Limits
from ._encoding import EncodedChunk
from ._estimate import PacingEstimate
from ._exceptions import InvalidApiKey, RequestRejected, UploadInterrupted
from ._plan import PartitionPlan
from ._progress import WidgetView, make_sink
from ._progress_model import Phase
from ._report import ValidationReport
from ._responses import CONNECTION_REFUSED
from ._result import FAILED, REJECTED, RowLedger, UploadResult
from ._sent import SendRecord
from ._wire import Wire
from ._words import plural

__all__ = [
    "NO_SEAMS", "Seams", "Target", "UploadPlan", "count_requests", "envelope", "forget_last_result", "last_result", "remember",
    "send", "settle", "with_timeout",
]

_last_result: UploadResult | None = None


def last_result() -> UploadResult | None:
    """The result of the last upload (or identify) in this process, also after an interrupt."""
    return _last_result


def remember(result: UploadResult) -> UploadResult:
    global _last_result
    _last_result = result
    return result


def forget_last_result() -> None:
    """Drop the kept result (a Dask worker: it would pin a partition's rows in memory)."""
    global _last_result
    _last_result = None


def with_timeout(settings: ClientSettings, timeout: float | httpx.Timeout | None) -> ClientSettings:
    """``settings`` with ``timeout=`` as given by a user: seconds for every phase, an
    httpx.Timeout, or None (the settings' defaults stay)."""
    if timeout is None:
        return settings
    return replace(settings, timeout=httpx.Timeout(float(timeout)) if isinstance(timeout, (int, float)) else timeout)


@dataclass(frozen=True)
class Target:
    """Where the rows go and with which key: read once, at the entry (the argument, else the
    ``%amplitude`` session, else ``AMPLITUDE_API_KEY``). ``key`` is None only for a dry run."""

    endpoint: Endpoint
    key: ApiKey | None = field(repr=False)


@dataclass(frozen=True)
class Seams:
    """What a send takes from outside, as values: the clocks and randomness (injected so that
    tests never sleep) and the kernel's progress bar (``widget``: handed down by the ways in,
    ``_jupyter.progress.widget_sink``; this layer never imports the notebook layer; None:
    text progress where a widget would be shown)."""

    clock: Callable[[], float] = time.monotonic
    rng: random.Random | None = None
    wall_clock: Callable[[], float] = time.time  # the Export API's hours count in it (result.verify)
    widget: WidgetView | None = None

    @classmethod
    def pop_from(cls, keywords: dict[str, Any], *, widget: WidgetView | None = None) -> Seams:
        """The private ``_clock=``, ``_rng=``, ``_wall_clock=`` of an entry's keywords, taken out."""
        given = {name: keywords.pop("_" + name) for name in ("clock", "rng", "wall_clock") if "_" + name in keywords}
        return cls(**given, widget=widget)


NO_SEAMS = Seams()


@dataclass(frozen=True, eq=False)
class UploadPlan:
    """Everything decided before the first byte is sent (pure: no IO, no clock but an injected now).

    ``ledger`` holds the rows settled before sending (skipped, with their reasons);
    ``chunks()`` encodes the rows to send, in send order (a fresh iterator each call);
    ``settings`` is None for a dry run (it needs no key). The rest describes the result.
    """

    frame: pd.DataFrame
    ledger: RowLedger
    validation: ValidationReport
    endpoint: Endpoint
    wire: Wire
    limits: Limits
    envelope: int  # bytes of a request around its payloads (the key's length measured)
    chunks: Callable[[], Iterator[EncodedChunk]]
    total: int  # rows to send
    dry_run: bool
    progress: Any
    resume: str  # how to finish the job after an interrupt
    settings: ClientSettings | None = None
    partitions: PartitionPlan | None = None
    pacing: PacingEstimate | None = None
    sent_as: SendRecord | None = None  # events: how to find them again (result.verify)
    unit: str = "events"
    method: str = "upload"
    notes: tuple[str, ...] = ()
    verifier: Callable[..., Any] | None = None


def envelope(wire: Wire, key: ApiKey | None, options: Mapping[str, object] | None, limits: Limits) -> int:
    """The bytes of a request around its payloads, as the loop measures them; for a dry run
    without a key, a typical 32-character one."""
    return wire.scheduler_envelope(key.reveal() if key is not None else "k" * 32, options, limits)


def settle(plan: UploadPlan, phase: Phase = "done", *, reason: str | None = None, message: str = "",
           elapsed_s: float = 0.0, batches: int = 0, sent: SendRecord | None = None) -> UploadResult:
    """The result of ``plan``, on every way out: rows still open fail with ``reason`` (when one
    is given), the result is built and kept for :func:`last_result`."""
    if reason is not None:
        plan.ledger.fail_pending(reason, message)
    result = UploadResult(
        frame=plan.frame, ledger=plan.ledger, endpoint=plan.endpoint.label, api=plan.endpoint.api,
        elapsed_s=elapsed_s, dry_run=plan.dry_run, interrupted=phase == "interrupted",
        validation=plan.validation, batches=batches, sent=sent, pacing=plan.pacing, unit=plan.unit,
        method=plan.method, notes=plan.notes, verifier=plan.verifier,
    )
    return remember(result)


def count_requests(plan: UploadPlan) -> UploadResult:
    """A dry run: the requests ``plan`` needs, counted by the loop's limits; a payload over
    the body limit on its own gets the verdict the loop gives it (``Wire.too_large``)."""
    batches = 0
    for item in chunk(plan.chunks(), plan.limits, plan.envelope):
        if isinstance(item, Batch):
            batches += 1
        else:
            plan.ledger.mark([item.position], REJECTED, *plan.wire.too_large(item.nbytes, plan.limits))
    return settle(plan, batches=batches)


async def send(plan: UploadPlan, seams: Seams = NO_SEAMS) -> UploadResult:
    """Send ``plan``'s rows (the rest of its rows are already settled) and settle the result.

    Raises :class:`InvalidApiKey` / :class:`RequestRejected` (a request-level refusal) and
    :class:`UploadInterrupted`, each carrying the result.
    """
    settings = plan.settings
    assert settings is not None, "a dry run is count_requests(plan)"
    ledger, clock = plan.ledger, seams.clock
    sink = make_sink(plan.progress, total=plan.total, label=plan.endpoint.label, widget=seams.widget)
    uploader = Uploader(settings, ledger, total=plan.total, skipped=len(ledger) - plan.total, sink=sink.update,
                        clock=clock, rng=seams.rng, plan=plan.partitions,
                        pacing_hint=plan.pacing.short() if plan.pacing is not None else None)
    started = clock()
    sent = replace(plan.sent_as, started_at=seams.wall_clock()) if plan.sent_as is not None else None

    def finish(phase: Phase, reason: str | None = None, message: str = "") -> UploadResult:
        if reason is not None:
            for batch in uploader.unanswered():
                held = settings.wire.unanswered(batch)
                ledger.mark_each([(batch.positions[r.index], r.reason, r.message) for r in held], FAILED)
        if sent is not None:
            sent.finished_at = seams.wall_clock()
        result = settle(plan, phase, reason=reason, message=message, elapsed_s=clock() - started, sent=sent)
        sink.close(uploader.snapshot(phase))
        return result

    try:
        await uploader.run(plan.chunks())
    except StopUpload as stop:
        outcome = stop.outcome
        result = finish("failed", "stopped", f"not sent: the upload stopped ({outcome.error})")
        if outcome.failed and outcome.failed[0].reason == CONNECTION_REFUSED:
            raise RequestRejected(
                f"could not connect to {settings.endpoint.url}: connection refused, nothing listens there; "
                "is the sandbox running (`amp-notebook sandbox` prints its URL) and is the port right?",
                status=None, error=outcome.error, result=result,
            ) from None
        if outcome.invalid_api_key:
            raise InvalidApiKey(
                "Amplitude says the API key is invalid (the key is not shown); check the "
                "project's API key in Amplitude's settings and the region (us/eu)",
                code=outcome.code, error="Invalid API key", result=result,
            ) from None
        raise RequestRejected(
            f"Amplitude refused the request as a whole: {outcome.error}",
            code=outcome.code, error=outcome.error, missing_field=outcome.missing_field,
            result=result,
        ) from None
    except (KeyboardInterrupt, asyncio.CancelledError):
        result = finish("interrupted", "interrupted",
                        "not acknowledged before the interrupt; " + settings.wire.resend_note)
        raise UploadInterrupted(
            f"upload interrupted: {result.ingested_count:,} of {plural(result.total, 'row')} acknowledged; "
            f"{plan.resume}",
            result=result,
        ) from None
    except BaseException as exc:
        finish("failed", "stopped", f"not sent: {type(exc).__name__}")
        raise
    return finish("done")
