"""Send encoded rows through the one upload loop and settle the result: the step every endpoint shares.

``upload`` (events) and ``identify`` / ``group_identify`` plan differently (their
own mapping, validation and encoding) and then call :func:`send_rows`, which
runs the :class:`~._client.Uploader` with a progress sink, and on every way out
(done, a request-level refusal, an interrupt, any other error) leaves every row
settled with a reason, keeps the result for :func:`last_result`, and closes the
progress display. What resending means is the Wire's to say
(``settings.wire``): rows of a request left without an answer are marked by
``wire.unanswered`` (Identify: an add in flight may have been applied).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx

from ._client import ClientSettings, StopUpload, Uploader
from ._encoding import EncodedChunk
from ._exceptions import InvalidApiKey, RequestRejected, UploadInterrupted
from ._plan import PartitionPlan
from ._progress import make_sink
from ._progress_model import Phase
from ._responses import CONNECTION_REFUSED
from ._result import FAILED, UploadResult
from ._words import plural

__all__ = ["forget_last_result", "last_result", "remember", "send_rows", "with_timeout"]

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


async def send_rows(
    result: UploadResult,
    settings: ClientSettings,
    chunks: Iterator[EncodedChunk],
    *,
    total: int,
    progress: Any,
    resume: str,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
    plan: PartitionPlan | None = None,
    pacing_hint: str | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> UploadResult:
    """Send ``chunks`` (``total`` rows; the rest of ``result``'s rows are already settled).

    ``resume`` ends the interrupt message: how to finish the job. ``plan`` and
    ``pacing_hint`` go to the Uploader (rows per device; what pacing costs at least);
    ``result.sent``, when set, gets the wall-clock time the sending ended. Raises
    :class:`InvalidApiKey` / :class:`RequestRejected` (a request-level refusal) and
    :class:`UploadInterrupted`, each carrying ``result``.
    """
    ledger = result.ledger
    sink = make_sink(progress, total=total, label=settings.endpoint.label)
    uploader = Uploader(settings, ledger, total=total, skipped=len(ledger) - total, sink=sink.update,
                        clock=clock, rng=rng, plan=plan, pacing_hint=pacing_hint)
    started = clock()

    def finish(phase: Phase, reason: str | None = None, message: str = "") -> UploadResult:
        # Every way out: rows still open say why, the result is kept, the sink closes.
        if reason is not None:
            for batch in uploader.unanswered():
                held = settings.wire.unanswered(batch)
                ledger.mark_each([(batch.positions[r.index], r.reason, r.message) for r in held], FAILED)
            ledger.fail_pending(reason, message)
        result.elapsed_s = clock() - started
        if result.sent is not None:
            result.sent.finished_at = wall_clock()
        result.interrupted = phase == "interrupted"
        remember(result)
        sink.close(uploader.snapshot(phase))
        return result

    try:
        await uploader.run(chunks)
    except StopUpload as stop:
        outcome = stop.outcome
        finish("failed", "stopped", f"not sent: the upload stopped ({outcome.error})")
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
        finish("interrupted", "interrupted", "not acknowledged before the interrupt; " + settings.wire.resend_note)
        raise UploadInterrupted(
            f"upload interrupted: {result.ingested_count:,} of {plural(result.total, 'row')} acknowledged; {resume}",
            result=result,
        ) from None
    except BaseException as exc:
        finish("failed", "stopped", f"not sent: {type(exc).__name__}")
        raise
    return finish("done")
