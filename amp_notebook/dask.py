"""``ddf.amplitude`` on Dask DataFrames: validate and upload frames larger than one machine.

``import amp_notebook`` registers the accessor as soon as ``dask.dataframe`` is
imported (before or after it; see ``_dask.hook``), without importing Dask itself.
With a distributed cluster running::

    from distributed import Client, LocalCluster
    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
    ddf = dd.read_parquet("s3://bucket/events/")

    report = ddf.amplitude.validate()         # the pandas rules, per partition, one report
    result = ddf.amplitude.upload()           # each partition with the pandas upload, on the workers
    result.to_resend().amplitude.upload()     # resend what failed (insert_ids make it safe)

How it works: the rows are shuffled so that every device's (else user's) events are
in one partition (``_dask.route``; skip with ``assume_partitioned=True``); each
partition is uploaded by the pandas engine on a worker (``_dask.worker``); project
rates (``tier="starter"``) are split across the partitions that run at once
(``_dask.rates``); the key reaches the workers from their environment or out of
band, never in the task graph (``_dask.keys``); one progress view and one merged
result (``_dask.progress``, ``_dask.result``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import dask
import dask.dataframe as dd
from dask.dataframe.extensions import register_dataframe_accessor

from ._api import EventPreview
from ._api import preview as _pandas_preview
from ._config import hide_key
from ._dask import driver as _driver
from ._dask.result import DaskUploadResult
from ._dask.sample import resolve
from ._dask.validate import DaskValidationReport
from ._dask.validate import validate as _validate
from ._encoding import EncodeOptions, iter_events
from ._mapping import ResolvedMapping
from ._options import UploadOptions, takes

if TYPE_CHECKING:  # pragma: no cover
    import dask.bag as db
    import pandas as pd
    from pandas.io.formats.style import Styler

__all__ = [
    "DaskAmplitudeAccessor",
    "DaskUploadResult",
    "DaskValidationReport",
    "last_result",
    "to_events",
    "upload",
    "upload_async",
    "validate",
]


@takes(UploadOptions, extra=_driver.ENGINE_KEYWORDS)
def upload(ddf: dd.DataFrame, api_key: Any = None, mapping: Mapping[str, object] | None = None,
           **keywords: Any) -> DaskUploadResult:
    """Upload ``ddf`` partition by partition on the cluster; the pandas upload's options, plus
    ``client``, ``npartitions``, ``assume_partitioned`` and ``shuffle_method``."""
    api_key = hide_key(api_key)  # before anything can raise: see hide_key
    return _driver.upload(ddf, api_key, mapping, **keywords)


@takes(UploadOptions, extra=_driver.ENGINE_KEYWORDS)
async def upload_async(ddf: dd.DataFrame, api_key: Any = None, mapping: Mapping[str, object] | None = None,
                       **keywords: Any) -> DaskUploadResult:
    """``await`` form of :func:`upload`: the job is watched from a thread; cancelling the
    awaiting task stops it like the stop button (``UploadInterrupted`` with the result)."""
    api_key = hide_key(api_key)  # before anything can raise: see hide_key
    return await _watched(ddf, api_key, mapping, keywords)


async def _watched(ddf: dd.DataFrame, api_key: Any, mapping: Mapping[str, object] | None,
                   keywords: dict[str, Any]) -> DaskUploadResult:
    cancel = threading.Event()
    work = asyncio.ensure_future(asyncio.to_thread(_driver.upload, ddf, api_key, mapping, _cancel=cancel,
                                                   **keywords))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        cancel.set()
        return await work


def validate(ddf: dd.DataFrame, mapping: Mapping[str, object] | None = None, **options: Any) -> DaskValidationReport:
    """Check every row against Amplitude's rules, per partition; one report (nothing is sent)."""
    return _validate(ddf, mapping, **options)


def _events(part: pd.DataFrame, rm: ResolvedMapping, options: EncodeOptions) -> list[dict[str, Any]]:
    return list(iter_events(part, rm, options))


def to_events(ddf: dd.DataFrame, mapping: Mapping[str, object] | None = None, *, tz: str = "UTC",
              time_unit: str | None = None) -> db.Bag:
    """The events exactly as they would be sent, as a Dask Bag (one list per partition)."""
    import dask.bag as db

    rm = resolve(ddf, mapping)
    options = EncodeOptions(tz=tz, time_unit=time_unit)  # type: ignore[arg-type]
    parts = [dask.delayed(_events)(part, rm, options) for part in ddf.to_delayed()]
    return db.from_delayed(parts)


def last_result() -> DaskUploadResult | None:
    """The last Dask upload's result in this process, also after an interrupt."""
    return _driver.last_result()


@register_dataframe_accessor("amplitude")
class DaskAmplitudeAccessor:
    """``ddf.amplitude``: the pandas accessor's names and options, on a Dask DataFrame.

    Keeps the frame and nothing else, never mutates it (design.md, principle 11).
    """

    def __init__(self, frame: dd.DataFrame) -> None:
        self._frame = frame

    def validate(self, mapping: Mapping[str, object] | None = None, **options: Any) -> DaskValidationReport:
        """Check every row against Amplitude's rules; returns a DaskValidationReport."""
        return validate(self._frame, mapping, **options)

    def style(self, mapping: Mapping[str, object] | None = None, max_rows: int = 100, **options: Any) -> Styler:
        """The first failing rows with their invalid cells highlighted and the reasons shown."""
        return validate(self._frame, mapping, max_rows=max_rows, **options).style(max_rows=max_rows)

    def to_events(self, mapping: Mapping[str, object] | None = None, **options: Any) -> db.Bag:
        """The JSON-ready event dicts, exactly as they would be sent, as a Dask Bag."""
        return to_events(self._frame, mapping, **options)

    def preview(self, n: int = 5, mapping: Mapping[str, object] | None = None, **options: Any) -> EventPreview:
        """The first ``n`` events as pretty JSON (reads only the first partition)."""
        return _pandas_preview(self._frame.head(n) if n > 0 else self._frame._meta, n, mapping, **options)

    def mapping(self, mapping: Mapping[str, object] | None = None) -> dict[str, object]:
        """The mapping that would be used (automatic unless given), as a dict."""
        return resolve(self._frame, mapping).to_dict()

    @takes(UploadOptions, extra=_driver.ENGINE_KEYWORDS)
    def upload(self, api_key: Any = None, mapping: Mapping[str, object] | None = None,
               **keywords: Any) -> DaskUploadResult:
        """Send the rows to Amplitude from the cluster's workers (see amp_notebook.dask.upload)."""
        api_key = hide_key(api_key)  # before anything can raise: see hide_key
        return _driver.upload(self._frame, api_key, mapping, **keywords)

    @takes(UploadOptions, extra=_driver.ENGINE_KEYWORDS)
    async def upload_async(self, api_key: Any = None, mapping: Mapping[str, object] | None = None,
                           **keywords: Any) -> DaskUploadResult:
        """``await ddf.amplitude.upload_async(...)``: the same as upload, for async code."""
        api_key = hide_key(api_key)  # before anything can raise: see hide_key
        return await _watched(self._frame, api_key, mapping, keywords)
