"""One mapping for every partition, resolved once on the frame's first rows.

Automatic mapping looks at values for the object-valued keys (a column named
``plan`` is the tracking plan only if it holds dicts: ``_mapping``). Resolved per
partition, two partitions could map the same column differently; so the driver
resolves it once, on the first rows of the first partition (as ``df.amplitude``
would on those rows), and every partition uses that :class:`ResolvedMapping`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from .._mapping import ResolvedMapping, resolve_mapping

if TYPE_CHECKING:  # pragma: no cover
    import dask.dataframe as dd

__all__ = ["SAMPLE_ROWS", "resolve"]

SAMPLE_ROWS = 1000


def resolve(ddf: dd.DataFrame, mapping: Mapping[str, object] | ResolvedMapping | None) -> ResolvedMapping:
    """The mapping every partition uses (reads the first rows of the first partition)."""
    if isinstance(mapping, ResolvedMapping):
        return mapping
    first: pd.DataFrame = ddf.partitions[0].map_partitions(pd.DataFrame.head, SAMPLE_ROWS, meta=ddf._meta).compute()
    return resolve_mapping(first, mapping)
