"""``key("order_id", "event_type")``: an insert_id made from chosen columns only.

The generated insert_id is a hash of the whole mapped event, so correcting one
property (or mapping a load-timestamp column) and sending again gives every row a
new insert_id, and Amplitude stores the events twice. A key names the columns that
say which event a row is; the insert_id is a hash of their values alone, so the
same order sent again with other properties is the same event to Amplitude
(reference, "Event keys" -> insert_id: later events with the same insert_id for the
same device_id or user_id are ignored within 7 days). How the hash is made:
``_key_ids``.

Given in the mapping, as the source of ``insert_id``:
``mapping={"insert_id": amp_notebook.key("order_id", "event_type")}``. It is part of
the mapping (not an upload option) because it says where a key's value comes from,
as a column or ``const(...)`` does; validate, to_events, preview, upload and Dask
all take the mapping, so they all agree on the ids.

This module is the value alone (no pandas, no hashing), so ``_mapping`` can hold it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from ._exceptions import ConfigurationError, MappingError

__all__ = ["InsertIdKey", "key", "resolve_key"]


@dataclass(frozen=True)
class InsertIdKey:
    """The columns an insert_id is made from, in order (see :func:`key`)."""

    columns: tuple[Hashable, ...]

    def __repr__(self) -> str:
        return "key(" + ", ".join(map(repr, self.columns)) + ")"


def key(*columns: Hashable) -> InsertIdKey:
    """An insert_id made from these columns only: ``mapping={"insert_id": key("order_id")}``.

    Each row's insert_id is a hash of the named columns' values (as text, so ``1001``
    read as a number or as text is the same value), the same in every run, process,
    machine and pandas version. Correct a property and send again: the event keeps
    its insert_id, and Amplitude does not store it twice. A name is a column label of
    the frame; a name that is no column but an event key of the mapping
    (``"event_type"`` given as ``const(...)``) takes that key's values. A row with a
    key value missing (or blank) is not sent: validation reports it
    (``insert_id_key_missing``).
    """
    if not columns:
        raise ConfigurationError('key() needs at least one column, e.g. key("order_id", "event_type")')
    for column in columns:
        if isinstance(column, (list, dict, set)) or not isinstance(column, Hashable):
            raise ConfigurationError(
                f"key() takes column names as separate arguments, not a {type(column).__name__}: "
                'key("order_id", "event_type")'
            )
    repeated = [c for i, c in enumerate(columns) if c in columns[:i]]
    if repeated:
        raise ConfigurationError(f"key() names the column {repeated[0]!r} twice")
    return InsertIdKey(tuple(columns))


def resolve_key(
    insert_key: InsertIdKey,
    column: Callable[[Hashable], Hashable] | None,
    keys: Mapping[str, Hashable],
    suggest: Callable[[Hashable], str | None],
) -> tuple[Hashable, ...]:
    """Where each of the key's names takes its values: a column label, or a mapped key's source.

    ``column(name)``: the label when the frame has that column (raising for a label
    used twice), None when it has not; ``keys``: event key path -> source (a column
    label or a ``Const``) of the resolved mapping.
    """
    sources = []
    for name in insert_key.columns:
        label = column(name) if column is not None else None
        if label is not None:
            sources.append(label)
        elif isinstance(name, str) and name in keys:
            sources.append(keys[name])
        else:
            raise MappingError(
                f"{insert_key!r} for insert_id: there is no column {name!r} (nor an event key of that name)",
                key="insert_id",
                column=name,
                suggestion=suggest(name),
            )
    return tuple(sources)
