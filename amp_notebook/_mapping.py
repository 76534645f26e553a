"""Columns -> Amplitude event keys.

A :class:`ResolvedMapping` says, for every event key that will be sent, where
its value comes from: a column of the frame or a constant (:func:`const`).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class Const:
    """A value used for every row, e.g. ``event_type=const("Purchase")``.

    Explicit on purpose: a string in a mapping always names a column, never a value.
    """

    value: object

    def __repr__(self) -> str:
        return f"const({self.value!r})"


def const(value: object) -> Const:
    """Mark ``value`` as a constant for every row (instead of a column name)."""
    return value if isinstance(value, Const) else Const(value)


@dataclass(frozen=True)
class Field:
    """One event value's source.

    ``key`` is a top-level event key (``_keys.EVENT_KEYS``); ``name`` the property,
    group type or plan field inside a nested key, else ``None``; ``source`` a column
    label of the frame or a :class:`Const`.
    """

    key: str
    name: str | None
    source: Hashable | Const

    @property
    def path(self) -> str:
        return self.key if self.name is None else f"{self.key}.{self.name}"

    @property
    def is_const(self) -> bool:
        return isinstance(self.source, Const)


@dataclass(frozen=True)
class ResolvedMapping:
    fields: tuple[Field, ...]

    def get(self, key: str) -> Field | None:
        for field in self.fields:
            if field.key == key and field.name is None:
                return field
        return None

    def nested(self, key: str) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.key == key and f.name is not None)

    def columns(self) -> list[Hashable]:
        seen: dict[Hashable, None] = {}
        for field in self.fields:
            if not isinstance(field.source, Const):
                seen.setdefault(field.source, None)
        return list(seen)


# resolve_mapping(columns, mapping=None, constants=None) -> ResolvedMapping: see the contract.
