"""``ddf.amplitude.upload()``: plan on the client, upload each partition on the workers.

The steps: check everything that can be checked without data (endpoint, key
source, mapping, options) so that a mistake fails before any row is sent; route
the rows (``_dask.route``: each device in one partition); split the project's
rates (``_dask.rates``); submit one task per partition (``_dask.worker``: the
pandas upload); then watch the job from this thread: relay progress into one
view, hand the key to workers that ask for it, turn the stop button into the
stop event, and gather each partition's small result as soon as it is done (a
result left on a worker that dies would be recomputed, i.e. uploaded again).
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .._config import ApiKey
from .._encoding import EncodeOptions
from .._exceptions import ConfigurationError, InvalidApiKey, RequestRejected, UploadInterrupted
from .._jupyter.progress import widget_sink
from .._options import UploadOptions, keyword
from .._progress import NullSink, make_sink
from .._progress_model import ProgressUpdate
from .._upload import limits_and_pacing, session_target
from . import keys
from .progress import JobProgress
from .rates import RateSplit, split_rates
from .result import DaskUploadResult
from .route import ROW, route
from .sample import resolve
from .worker import PartPlan, PartResult, failed_whole, upload_part

if TYPE_CHECKING:  # pragma: no cover
    import dask.dataframe as dd
    from distributed import Client

__all__ = ["get_client", "upload"]

# The Dask upload's own keywords, beside the pandas upload's options (UploadOptions): shown in
# the ways in's signatures (amp_notebook.dask) and named by an unknown keyword's error.
ENGINE_KEYWORDS = [keyword("client", None, "Client | None"), keyword("npartitions", None, "int | None"),
                   keyword("assume_partitioned", False, "bool"), keyword("shuffle_method", None, "str | None")]

_last: DaskUploadResult | None = None
_STOP_WAIT_S = 30.0  # after the stop button: how long the running partitions get to unwind


def last_result() -> DaskUploadResult | None:
    """The last Dask upload's result in this process, also after an interrupt."""
    return _last


def get_client(client: Client | None) -> Client:
    """The given client, else the current one; a clear error when there is none."""
    if client is not None:
        return client
    from distributed import get_client as current

    try:
        return current()
    except ValueError:
        raise ConfigurationError(
            "uploading a Dask DataFrame needs a distributed cluster: start one first, e.g.\n"
            "    from distributed import Client, LocalCluster\n"
            "    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))\n"
            "(one thread per worker: the upload is CPU-bound Python), or pass client="
        ) from None


def _key_source(client: Client, key: ApiKey | None, dry_run: bool) -> str:
    if key is not None:
        return "store"
    if not dry_run:
        have = client.run(keys.has_env_key)
        missing = sorted(address for address, ok in have.items() if not ok)
        if missing or not have:
            raise ConfigurationError(
                "no Amplitude API key for the workers: pass api_key=... (handed to the workers "
                "out of band), use %amplitude key, or set AMPLITUDE_API_KEY in the workers' "
                f"environment (missing on {len(missing)} of {len(have)} workers)"
            )
    return "env"


@contextmanager
def _key_on_workers(client: Client, token: str, key: ApiKey | None) -> Iterator[Callable[[str], None]]:
    """Hand the key to every worker for the job and take it back after; yields a
    function that hands it to one more worker (one that joined during the job)."""

    def hand_over(workers: list[str] | None) -> None:
        if key is None:
            return
        keys.check_secure([client.scheduler.address, *(workers or client.nthreads())])
        client.run(keys.put, token, key.reveal(), workers=workers)

    hand_over(None)
    try:
        yield lambda address: hand_over([address])
    finally:
        if key is not None:
            client.run(keys.pop, token, on_error="ignore")


class _Watch:
    """Waits for the partitions' futures from the calling thread (the stop button lands here)."""

    def __init__(self, client: Client, plan: PartPlan, progress: JobProgress,
                 hand_over: Callable[[str], None], cancel: threading.Event | None) -> None:
        self.client, self.plan, self.progress, self.hand_over = client, plan, progress, hand_over
        self.cancel = cancel
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.interrupted = False
        self.lost: dict[int, str] = {}

    def _drain(self) -> None:
        while True:
            try:
                _, message = self.inbox.get_nowait()
            except queue.Empty:
                return
            if "update" in message:
                self.progress.add(int(message["part"]), message["update"])
            elif "need_key" in message:
                self.hand_over(str(message["need_key"]))

    def _stop(self) -> None:
        from distributed import Event

        if not self.interrupted:
            self.interrupted = True
            Event(self.plan.stop_name, client=self.client).set()

    def gather(self, futures: list[Any]) -> list[PartResult]:
        self.client.subscribe_topic(self.plan.topic, self.inbox.put)
        pending = dict(enumerate(futures))
        results: list[PartResult] = []
        deadline: float | None = None
        try:
            while pending:
                try:
                    self._drain()
                    for number, future in list(pending.items()):
                        if future.done():
                            del pending[number]
                            self._collect(number, future, results)
                    if self.cancel is not None and self.cancel.is_set() and not self.interrupted:
                        raise KeyboardInterrupt  # upload_async was cancelled: as the stop button
                    if deadline is not None and time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                except KeyboardInterrupt:
                    if deadline is not None:
                        break  # a second stop: do not wait for the partitions to unwind
                    self._stop()
                    deadline = time.monotonic() + _STOP_WAIT_S
            for number, future in pending.items():
                future.cancel()
                self.lost[number] = "interrupted: the partition did not report back"
            self._drain()
        finally:
            self.client.unsubscribe_topic(self.plan.topic)
        return results

    def _collect(self, number: int, future: Any, results: list[PartResult]) -> None:
        if future.status == "finished":
            results.append(future.result())
        else:  # e.g. KilledWorker: the workers running it died too often
            error = future.exception() if future.status == "error" else None
            self.lost[number] = f"{type(error).__name__}: {error}" if error is not None else str(future.status)
        future.release()


def _lost_rows(client: Client, parts: dd.DataFrame, lost: dict[int, str]) -> list[PartResult]:
    """The rows of partitions that never reported back: failed, to resend (read again)."""
    out = []
    frames = client.compute([parts.partitions[n][[ROW]] for n in sorted(lost)], sync=True)
    for number, frame in zip(sorted(lost), frames, strict=True):
        message = f"the partition never reported back ({lost[number]}); safe to resend"
        out.append(failed_whole(number, frame, frame[ROW].to_numpy(), "partition_lost", message,
                                error=lost[number]))
    return out


def _final(result: DaskUploadResult, progress: JobProgress, phase: str) -> ProgressUpdate:
    c = result.counts()
    sent = c["ingested"] + c["rejected"] + c["failed"]
    return replace(progress.snapshot("done"), total=c["rows"] - c["skipped"], sent=sent,
                   ingested=c["ingested"], rejected=c["rejected"], failed=c["failed"], skipped=c["skipped"],
                   requests=result.requests, retries=result.retries, throttled=result.throttled,
                   phase=phase)  # type: ignore[arg-type]


def upload(
    ddf: dd.DataFrame,
    api_key: Any = None,
    mapping: Mapping[str, object] | None = None,
    *,
    client: Client | None = None,
    npartitions: int | None = None,
    assume_partitioned: bool = False,
    shuffle_method: str | None = None,
    _cancel: threading.Event | None = None,
    **keywords: Any,
) -> DaskUploadResult:
    """Upload every partition of ``ddf`` with the pandas engine, on the cluster's workers.

    ``api_key`` is already hidden (``hide_key``) by the way in (``amp_notebook.dask``).
    The options are the pandas upload's (:class:`UploadOptions`), plus ``client``
    (default: the current one), ``npartitions`` (after the shuffle; default: as many as
    the frame has), ``assume_partitioned=True`` (the frame already has each device in one
    partition: no shuffle) and ``shuffle_method``.
    """
    global _last
    options = UploadOptions.from_keywords("upload", keywords, options=keywords.pop("options", None),
                                          extra=[p.name for p in ENGINE_KEYWORDS])
    if options.transport is not None:
        raise ConfigurationError("transport= is process-local: a Dask upload sends from the workers")
    dry_run = options.dry_run
    given, ep = session_target(api_key, options)
    key = ApiKey(given["api_key"]) if given["api_key"] is not None and not dry_run else None
    rm = resolve(ddf, mapping)  # once, for every partition
    o = options
    encode_options = EncodeOptions(tz=o.tz, time_unit=o.time_unit, min_id_length=o.min_id_length)  # type: ignore[arg-type]
    now_ms = o.now_ms if o.now_ms is not None else int(time.time() * 1000)  # one clock for every partition
    client = get_client(client)
    key_from = _key_source(client, key, dry_run)
    if o.on_invalid == "raise":
        from .validate import raise_if_invalid

        raise_if_invalid(ddf, rm, min_id_length=o.min_id_length, tz=o.tz, time_unit=o.time_unit, now_ms=now_ms,
                         npartitions=npartitions, assume_partitioned=assume_partitioned)

    routed, parts = route(ddf, rm, encode_options, npartitions=npartitions,
                          assume_partitioned=assume_partitioned, shuffle_method=shuffle_method)
    # The project's caps as a pandas upload's plan picks them, split between the partitions.
    limits, pacing_used = limits_and_pacing(o, ep.api)
    split: RateSplit | None = split_rates(
        pacing_used.project_eps, pacing_used.project_rps, threads=sum(client.nthreads().values()),
        npartitions=parts.npartitions, events_per_request=limits.max_events, safety=pacing_used.safety,
    )
    sink = make_sink(o.progress, total=0, label=ep.label, widget=widget_sink)
    token = secrets.token_hex(16)
    # Every partition: the session's target as read here, one "now", its share of the rates;
    # progress is the worker's relay (a callable given here must not travel in the graph).
    part_options = replace(o, region=given["region"], api=given["api"], endpoint=given["endpoint"],
                           now_ms=now_ms, progress=False)
    if split is not None:
        part_options = replace(part_options, max_events_per_second=split.eps, max_requests_per_second=split.rps)
    plan = PartPlan(
        token=token, mapping=rm, key_from=key_from, options=part_options,  # type: ignore[arg-type]
        lease=f"amp-lease-{token}" if split is not None else None,
        slots=split.slots if split is not None else 1,
        progress=not isinstance(sink, NullSink),
    )
    import dask

    tasks = [dask.delayed(upload_part, pure=False)(part, plan, number)
             for number, part in enumerate(parts.to_delayed())]
    job = JobProgress(sink, time.monotonic, partitions=parts.npartitions)
    with _key_on_workers(client, token, key) as hand_over:
        watch = _Watch(client, plan, job, hand_over, _cancel)
        results = watch.gather(client.compute(tasks))
    if watch.lost:
        results += _lost_rows(client, parts, watch.lost)
    result = DaskUploadResult(
        results, routed, endpoint=ep.label, api=ep.api, elapsed_s=time.monotonic() - job.started,
        dry_run=dry_run, interrupted=watch.interrupted, split=split, shuffled=not assume_partitioned,
    )
    _last = result
    job.close(_final(result, job, "interrupted" if watch.interrupted else "done"))
    _raise_for(result)
    return result


def _raise_for(result: DaskUploadResult) -> None:
    """The pandas upload's exceptions, carrying the merged result."""
    if result.interrupted:
        raise UploadInterrupted(
            f"upload interrupted: {result.ingested_count:,} of {result.total:,} rows acknowledged; "
            "run it again to finish (insert_ids make the resend safe)",
            result=result,
        )
    kinds = [p.error_kind for p in result.parts if p.error_kind]
    if "invalid_api_key" in kinds:
        raise InvalidApiKey(
            "Amplitude says the API key is invalid (the key is not shown); check the project's "
            "API key in Amplitude's settings and the region (us/eu)",
            code=400, error="Invalid API key", result=result,
        )
    if "request_rejected" in kinds:
        error = next(p.error for p in result.parts if p.error_kind == "request_rejected")
        raise RequestRejected(f"Amplitude refused a request as a whole: {error}", error=error, result=result)
