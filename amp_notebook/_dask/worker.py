"""One partition's upload, on a Dask worker: the pandas upload, unchanged.

:func:`upload_part` is the task. It takes the job's key from the worker's key store
(or leaves it to the worker's ``AMPLITUDE_API_KEY``), waits for a lease when the
project's rates are split (``_dask.rates``), runs ``_upload.upload_frame`` (plan, then
the one upload loop) with its share of the project rates and a progress callable that
relays counts to the driver, and returns a compact :class:`PartResult`: counts,
server answers, and only the rows not ingested (index label, ``_amp_row``,
status, reason, message), never the partition itself.

Every way out returns a ``PartResult``: an interrupt (the driver sets a
``distributed.Event`` that a watcher thread here turns into a cancel), a request
refused as a whole (bad key), an error in this code. Tasks must not raise
``UploadInterrupted`` (a ``KeyboardInterrupt``) into the worker, nor carry the
frame back inside an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._config import ApiKey
from .._estimate import PacingEstimate
from .._exceptions import InvalidApiKey, RequestRejected, UploadInterrupted
from .._logging import redact
from .._mapping import ResolvedMapping
from .._options import UploadOptions
from .._preflight import summary_counts
from .._progress_model import ProgressUpdate
from .._result import OUTCOMES, UploadResult
from . import keys
from .route import ROW, user_columns

__all__ = ["PartPlan", "PartResult", "upload_part"]

NOT_PROBLEMS = ("ingested", "would send")
PROBLEM_COLUMNS = [ROW, "status", "reason", "message"]


@dataclass(frozen=True)
class PartPlan:
    """What every partition's task needs: in the graph, so never the key."""

    token: str
    mapping: ResolvedMapping  # resolved once by the driver: the same for every partition
    options: UploadOptions  # the upload's options (rates already split; the session's target filled in)
    key_from: Literal["store", "env"]
    lease: str | None = None  # the distributed.Semaphore's name when project rates are split
    slots: int = 1
    progress: bool = True
    relay_interval_s: float = 0.25
    key_wait_s: float = 60.0

    @property
    def topic(self) -> str:
        return f"amp-{self.token}"

    @property
    def stop_name(self) -> str:
        return f"amp-stop-{self.token}"


@dataclass
class PartResult:
    """What one partition's upload did: small, gathered by the driver at once."""

    number: int
    rows: int
    worker: str = ""
    elapsed_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    batches: int = 0
    duplicates: int = 0
    server_answers: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    error: str | None = None
    error_kind: str | None = None  # invalid_api_key, request_rejected, api_key_missing, partition_error
    problems: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PROBLEM_COLUMNS))
    validation: pd.DataFrame | None = None  # ValidationReport.counts() of the partition
    preflight: tuple[int, int, int] = (0, 0, 0)  # _preflight.summary_counts of the partition
    pacing: PacingEstimate | None = None  # what pacing costs this partition at least
    pacing_note: str | None = None  # why pacing was tightened, if it was


def _worker() -> Any:
    from distributed import get_worker

    return get_worker()


class _Relay:
    """The upload's progress callable: counts to the driver through ``log_event``, throttled."""

    def __init__(self, worker: Any, topic: str, number: int, interval_s: float) -> None:
        self.worker, self.topic, self.number, self.interval_s = worker, topic, number, interval_s
        self._last = -1e9

    def send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # progress must never lose an upload
            self.worker.log_event(self.topic, {"part": self.number, **message})

    def __call__(self, u: ProgressUpdate) -> None:
        now = time.monotonic()
        if u.phase in ("sending", "waiting", "starting") and now - self._last < self.interval_s:
            return
        self._last = now
        self.send({"update": asdict(u)})


def _stop_watcher(stop: Any, cancel: Callable[[], None]) -> Callable[[], None]:
    """A daemon thread that cancels the upload when the driver sets the stop event.

    ``Client.cancel`` cannot stop a running task (distributed docs, "Task
    cancellation"), so the task watches the event itself. Returns "finished".
    """
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            try:
                if stop.wait(timeout=0.5):
                    if not finished.is_set():
                        cancel()
                    return
            except Exception:  # the scheduler went away: nothing to watch
                return

    threading.Thread(target=watch, name="amp_notebook-stop", daemon=True).start()
    return finished.set


async def _run_upload(frame: pd.DataFrame, key: ApiKey | None, plan: PartPlan, relay: _Relay | None,
                      stop: Any) -> tuple[UploadResult | None, str | None, str | None]:
    """(result, error, error kind): the pandas upload, cancelled if the stop event is set.

    The upload is awaited in this very task, which the watcher cancels: its
    ``UploadInterrupted`` (a KeyboardInterrupt) then reaches the ``except`` below. Had
    it ended a task of its own, asyncio would have re-raised it out of the event loop.
    """
    from .._upload import target, upload_frame

    loop = asyncio.get_running_loop()
    this = asyncio.current_task()
    assert this is not None

    def cancel() -> None:
        loop.call_soon_threadsafe(this.cancel)

    finished = _stop_watcher(stop, cancel)
    try:
        options = replace(plan.options, progress=relay if relay is not None else False)
        return await upload_frame(frame, plan.mapping, options, target(key, options)), None, None
    except UploadInterrupted as exc:
        return exc.result, None, None
    except RequestRejected as exc:  # the rows say "stopped"
        kind = "invalid_api_key" if isinstance(exc, InvalidApiKey) else "request_rejected"
        return exc.result, redact(exc.error or str(exc)), kind
    finally:
        finished()


def _problems(result: UploadResult, rows: np.ndarray) -> pd.DataFrame:
    table = result.rows
    mask = ~table["status"].isin(NOT_PROBLEMS).to_numpy()
    problems: pd.DataFrame = table.loc[mask, ["status", "reason", "message"]]
    problems.insert(0, ROW, rows[mask])
    return problems


def failed_whole(number: int, frame: pd.DataFrame, rows: np.ndarray, reason: str, message: str,
                 worker: str = "", error: str | None = None, kind: str | None = None) -> PartResult:
    """A partition whose every row failed (``reason``, ``message``): safe to resend."""
    problems = pd.DataFrame(
        {ROW: rows, "status": "failed", "reason": reason, "message": message}, index=frame.index
    )
    counts = {**dict.fromkeys(OUTCOMES, 0), "failed": len(frame)}
    return PartResult(number, len(frame), worker=worker, error=error, error_kind=kind, problems=problems,
                      counts=counts)


def _from_result(number: int, result: UploadResult, rows: np.ndarray, worker: str,
                 error: str | None, kind: str | None) -> PartResult:
    ledger = result.ledger
    counts = result.counts()
    counts.pop("rows")
    return PartResult(
        number, result.total, worker=worker, elapsed_s=result.elapsed_s, counts=counts,
        requests=ledger.requests, retries=ledger.retries, throttled=ledger.throttled,
        batches=result.batches, duplicates=result.duplicate_count,
        server_answers=dict(ledger.server_answers), interrupted=result.interrupted, error=error,
        error_kind=kind,
        problems=_problems(result, rows),
        validation=result.validation.counts() if result.validation is not None else None,
        preflight=summary_counts(result.validation.failures) if result.validation is not None else (0, 0, 0),
        pacing=result.pacing, pacing_note=result.pacing_note,
    )


def upload_part(part: pd.DataFrame, plan: PartPlan, number: int) -> PartResult:
    """The task: upload one partition with the pandas engine; never raises."""
    from distributed import Event, Semaphore

    worker = _worker()
    frame = user_columns(part)
    rows = part[ROW].to_numpy()
    stop = Event(plan.stop_name)
    relay = _Relay(worker, plan.topic, number, plan.relay_interval_s) if plan.progress else None
    interrupted = "not sent: the upload was stopped before this partition started; safe to resend"
    try:
        key: ApiKey | None = None
        if plan.key_from == "store":
            key = keys.wait_for(
                plan.token,
                lambda: worker.log_event(plan.topic, {"part": number, "need_key": worker.address}),
                timeout_s=plan.key_wait_s,
            )
            if key is None:
                message = "this worker never received the job's API key; safe to resend"
                return failed_whole(number, frame, rows, "api_key_missing", message, worker.address,
                                     message, "api_key_missing")
        if stop.is_set():
            return failed_whole(number, frame, rows, "interrupted", interrupted, worker.address)
        lease = Semaphore(max_leases=plan.slots, name=plan.lease) if plan.lease else None
        if lease is not None:
            lease.acquire()
        try:
            if stop.is_set():
                return failed_whole(number, frame, rows, "interrupted", interrupted, worker.address)
            result, error, kind = asyncio.run(_run_upload(frame, key, plan, relay, stop))
        finally:
            if lease is not None:
                lease.release()
        if result is None:
            return failed_whole(number, frame, rows, "stopped", error or "stopped", worker.address, error, kind)
        return _from_result(number, result, rows, worker.address, error, kind)
    except (KeyboardInterrupt, asyncio.CancelledError):  # never into the worker's thread
        message = "interrupted; not known to be acknowledged: safe to resend"
        return failed_whole(number, frame, rows, "interrupted", message, worker.address)
    except Exception as exc:  # a bug or a broken cluster: the rows say so, the job goes on
        text = redact(f"{type(exc).__name__}: {exc}")
        return failed_whole(number, frame, rows, "partition_error", f"{text}; safe to resend",
                             worker.address, text, "partition_error")
    finally:
        if relay is not None:
            relay.send({"finished": True})
        from .._send import forget_last_result

        forget_last_result()  # it would pin this partition in the worker's memory
