"""Every device's (else user's) rows in one partition, as Amplitude advises.

Amplitude throttles per device_id, else per user_id (reference, "Limits"), and
recommends partitioning work by that key. Each row gets two helper columns:

- ``_amp_route``: a 64-bit hash (pandas' ``hash_array``: SipHash with a fixed key,
  the same in every process) of the key the encoder paces by
  (``_encoding.frame_partition_keys``: device_id, else "user:" + user_id, after the
  same normalisation as the events sent), so the shuffle puts each device in
  exactly one partition;
- ``_amp_row``: a row id unique in the frame, ``input partition << 40 | position``,
  that names each row in the merged result and sorts the rows of a partition back
  into frame order after the shuffle (which does not keep order).

With each device in one partition, the partition's upload (the pandas path) keeps
that device under its rate and its events in time order, and finds every
``duplicate_event`` (identical rows share a device) as the whole frame would.

Cost of the shuffle: every row crosses the network once (all-to-all), with the
memory of a shuffle; skip it with ``assume_partitioned=True`` when the frame is
already partitioned by device (e.g. written with ``partition_on``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._encoding import EncodeOptions, frame_partition_keys
from .._exceptions import ConfigurationError
from .._mapping import ResolvedMapping

if TYPE_CHECKING:  # pragma: no cover
    import dask.dataframe as dd

__all__ = ["HELPERS", "ROUTE", "ROW", "ROW_BITS", "add_route", "route", "sort_rows", "user_columns"]

ROW, ROUTE = "_amp_row", "_amp_route"
HELPERS = (ROW, ROUTE)
ROW_BITS = 40  # 2**40 rows per input partition, 2**23 input partitions


def add_route(
    part: pd.DataFrame, rm: ResolvedMapping, options: EncodeOptions, partition_info: dict[str, Any] | None = None
) -> pd.DataFrame:
    """``part`` with ``_amp_row`` and ``_amp_route`` (dask passes ``partition_info``)."""
    number = 0 if partition_info is None else int(partition_info["number"])
    keys = np.asarray(frame_partition_keys(part, rm, options), dtype=object)
    route_hash = pd.util.hash_array(keys) if len(keys) else np.empty(0, dtype=np.uint64)
    rows = (np.int64(number) << ROW_BITS) + np.arange(len(part), dtype=np.int64)
    routed: pd.DataFrame = part.assign(**{ROW: rows, ROUTE: route_hash})
    return routed


def sort_rows(part: pd.DataFrame) -> pd.DataFrame:
    """The rows of a partition in frame order again (the shuffle mixes them)."""
    ordered: pd.DataFrame = part.sort_values(ROW, kind="stable")
    return ordered


def user_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A partition without the helper columns: exactly the user's columns."""
    columns: pd.DataFrame = frame.drop(columns=list(HELPERS))
    return columns


def _shuffle_method(ddf: dd.DataFrame) -> str | None:
    # p2p (the default with a distributed client) goes through Arrow and can change
    # the dtype of object columns (mixed values, dicts), and so the events and their
    # insert_ids: shuffle those frames with the tasks method.
    if any(pd.api.types.is_object_dtype(dtype) for dtype in ddf.dtypes):
        return "tasks"
    return None


def route(
    ddf: dd.DataFrame,
    rm: ResolvedMapping,
    options: EncodeOptions,
    *,
    npartitions: int | None = None,
    assume_partitioned: bool = False,
    shuffle_method: str | None = None,
) -> tuple[dd.DataFrame, dd.DataFrame]:
    """``(routed, parts)``: the frame with the helper columns, in its own partitions (lazy:
    recomputed to rebuild per-row results), and the partitions to upload, by device."""
    clash = [c for c in HELPERS if c in ddf.columns]
    if clash:
        raise ConfigurationError(f"the frame already has a column named {clash[0]!r}; rename it first")
    meta = add_route(ddf._meta, rm, options)
    routed = ddf.map_partitions(add_route, rm, options, meta=meta)
    if assume_partitioned:
        if npartitions is not None:
            raise ConfigurationError("npartitions= needs the shuffle: leave it out with assume_partitioned=True")
        return routed, routed
    n = npartitions or ddf.npartitions
    if n < 1:
        raise ConfigurationError("npartitions must be at least 1")
    method = shuffle_method or _shuffle_method(ddf)
    shuffled = routed.shuffle(on=ROUTE, npartitions=n, shuffle_method=method, force=True)
    return routed, shuffled.map_partitions(sort_rows, meta=meta)
