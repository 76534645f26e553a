"""Rows -> identification objects, encoded once as percent-encoded JSON (the form Wire's payloads).

Reference: identify-api.md. One object per row, in frame order:

- Identify: ``{"user_id", "device_id", <Amplitude's fields>, "user_properties":
  {"$set": {...}, "$add": {...}, ...}}``;
- Group Identify: ``{"group_type", "group_value", "group_properties": {...}}``.

Values are read exactly as for events (``_values``: the same cleaning the event
encoder and the validator use): a missing cell (NaN, None, NaT, pd.NA) leaves the
property out, so Amplitude keeps what it has ("leave unchanged"), unless the
property is ``unset_missing``, when it goes into ``$unset``; dates become ISO 8601
strings (identify-api.md: "Dates are compared as strings: send ISO 8601"): naive
as they are, tz-aware in UTC with a ``Z``; whole floats are sent as integers.
Properties always go inside their operation (``$set`` for plain ones), so one
identification never mixes operations with plain keys.

Each row's partition (the key it is paced and paused by) is ``"user:" + user_id``,
else its ``device_id`` (identify-api.md: "If one user_id sends from several
devices at once, all are throttled", and 429s name users so); a group's is
``"group:" + type + ":" + value``, so one group's updates arrive in frame order.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import Any

import numpy as np
import orjson
import pandas as pd

from ._encoding import EncodedChunk, EncodeOptions, _chunks
from ._form import encode_payloads
from ._identify_mapping import IdentifyMapping
from ._mapping import Const, Field
from ._values import _source_series, _values

__all__ = ["encode_identifications", "iter_identifications", "partition_keys"]

_OPTIONS = EncodeOptions()


# (key, may_be_missing) per scalar; (name, operation, may_be_missing, unset_missing) per property.
_Layout = tuple[str, tuple[tuple[str, bool], ...], tuple[tuple[str, str, bool, bool], ...]]
_BUILDERS: dict[_Layout, Callable[..., dict[str, Any]]] = {}


def _builder(layout: _Layout) -> Callable[..., dict[str, Any]]:
    """A function (v0, v1, ...) -> identification dict for one chunk layout.

    Generated once per layout, as the event encoder does (``_encoding._builder``):
    dict literals and straight-line tests are several times faster than loops over
    columns on this per-row hot path. Names enter the source only through repr().
    """
    fn = _BUILDERS.get(layout)
    if fn is not None:
        return fn
    key, scalars, props = layout
    args = [f"s{i}" for i in range(len(scalars))] + [f"p{j}" for j in range(len(props))]
    lines = [f"def build({', '.join(args)}):"]
    sure = ", ".join(f"{k!r}: s{i}" for i, (k, missing) in enumerate(scalars) if not missing)
    lines.append(f"    o = {{{sure}}}")
    lines += [f"    if s{i} is not None: o[{k!r}] = s{i}" for i, (k, missing) in enumerate(scalars) if missing]
    lines.append("    u = {}")
    ops = list(dict.fromkeys(op for _, op, _, _ in props))
    if any(unset for *_, unset in props):
        ops.append("$unset")
    for n, op in enumerate(ops):
        mine = [(j, name, missing) for j, (name, o, missing, _) in enumerate(props) if o == op]
        sure = ", ".join(f"{name!r}: p{j}" for j, name, missing in mine if not missing)
        lines.append(f"    c{n} = {{{sure}}}")
        for j, name, missing in mine:
            if missing:
                lines.append(f"    if p{j} is not None: c{n}[{name!r}] = p{j}")
        if op == "$unset":
            # A missing cell of an unset_missing property: "$unset", the value ignored ("-").
            lines += [f"    if p{j} is None: c{n}[{name!r}] = '-'" for j, (name, _, _, unset) in enumerate(props) if unset]
        lines.append(f"    if c{n}: u[{op!r}] = c{n}")
    lines.append(f"    if u: o[{key!r}] = u")
    lines.append("    return o")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), "<amp_notebook identification builder>", "exec"), namespace)
    built: Callable[..., dict[str, Any]] = namespace["build"]
    _BUILDERS[layout] = built
    return built


def const_value(source: Const, kind: str) -> Any:
    """A constant as sent: read like a one-cell column of that kind (lists and dicts stay one cell)."""
    one = pd.Series([None], dtype=object)
    one.iloc[0] = source.value
    return _values(one, kind, _OPTIONS)[0][0]


def sent_values(values: pd.Series, kind: str) -> list[Any]:
    """A column's values exactly as sent (None where left out)."""
    return _values(values, kind, _OPTIONS)[0]


def _objects(df: pd.DataFrame, m: IdentifyMapping, rows: slice | np.ndarray, n: int) -> list[dict[str, Any]]:
    """One chunk's identifications: each column read once as JSON-ready values (None = missing)."""

    def values(key: str, source: Hashable | Const, kind: str) -> tuple[list[Any], bool]:
        field = Field(key, None, source)
        if isinstance(source, Const):
            value = const_value(source, kind)
            return [value] * n, value is None
        return _values(_source_series(df, field).iloc[rows], kind, _OPTIONS)

    scalars = [(k, values(k, s, "string")) for k, s in (*m.ids.items(), *m.fields.items())]
    props = [(p, values(m.properties_key, p.source, "property")) for p in m.properties]
    layout: _Layout = (
        m.properties_key,
        tuple((k, missing) for k, (_, missing) in scalars),
        tuple((p.name, p.operation, missing, p.unset_missing) for p, (_, missing) in props),
    )
    columns = [v for _, (v, _) in scalars] + [v for _, (v, _) in props]
    if not columns:
        return [{} for _ in range(n)]
    return list(map(_builder(layout), *columns))


def partition_keys(m: IdentifyMapping, objects: list[dict[str, Any]]) -> list[str]:
    """The pacing/pause key of each identification (see the module docstring)."""
    first, second = ("group_type", "group_value") if m.kind == "group" else ("user_id", "device_id")
    return _keys(m, [o.get(first) for o in objects], [o.get(second) for o in objects])


def _keys(m: IdentifyMapping, first: list[Any], second: list[Any]) -> list[str]:
    if m.kind == "group":
        return [f"group:{t or ''}:{v or ''}" for t, v in zip(first, second, strict=True)]
    return ["user:" + u if u is not None else d or "" for u, d in zip(first, second, strict=True)]


def iter_partition_keys(
    df: pd.DataFrame, m: IdentifyMapping, positions: np.ndarray | None = None, *, chunk_rows: int = 500_000
) -> Iterator[list[str]]:
    """The partition key of every row :func:`encode_identifications` sends, in the same order,
    read from the id columns alone (for the Scheduler's PartitionPlan)."""
    first, second = ("group_type", "group_value") if m.kind == "group" else ("user_id", "device_id")
    for pos, rows in _chunks(len(df), positions, chunk_rows):
        n = len(pos)

        def column(key: str, rows: slice | np.ndarray = rows, n: int = n) -> list[Any]:
            source = m.ids.get(key)
            if source is None:
                return [None] * n
            if isinstance(source, Const):
                return [const_value(source, "string")] * n
            return sent_values(_source_series(df, Field(key, None, source)).iloc[rows], "string")

        yield _keys(m, column(first), column(second))


def iter_identifications(
    df: pd.DataFrame, m: IdentifyMapping, positions: np.ndarray | None = None, *, chunk_rows: int = 20_000
) -> Iterator[tuple[np.ndarray, list[dict[str, Any]]]]:
    """(positions, identification dicts) per chunk of rows, in frame order (or ``positions``' order)."""
    for pos, rows in _chunks(len(df), positions, chunk_rows):
        yield pos, _objects(df, m, rows, len(pos))


def encode_identifications(
    df: pd.DataFrame, m: IdentifyMapping, positions: np.ndarray | None = None, *, chunk_rows: int = 20_000
) -> Iterator[EncodedChunk]:
    """The rows as EncodedChunks of percent-encoded JSON objects, ready for the form Wire."""
    dumps = orjson.dumps
    for pos, objects in iter_identifications(df, m, positions, chunk_rows=chunk_rows):
        payloads = encode_payloads([dumps(o) for o in objects])
        yield EncodedChunk(pos, payloads, partition_keys(m, objects))
