"""The user and group properties the sandbox keeps, and the operations that change them.

Written from identify-api.md, "User property operations" (the same operations
serve group properties), apart from the client's code: the sandbox is the
oracle. ``apply_operations(current, ops)`` changes ``current`` in place:

==============  ==================================================================
``$set``        set the value
``$setOnce``    set only if the property has no value yet
``$add``        add a number (negative subtracts); no value yet counts as 0
``$append``     add the value, or each value of a list, at the end of a list
``$prepend``    the same at the front (the values keep their order: [a, b] + [c])
``$preInsert``  like $prepend, only values not already in the list
``$postInsert`` like $append, only values not already in the list
``$remove``     remove every copy of the value (or of each value of a list)
``$unset``      remove the property (its value is ignored)
``$clearAll``   remove every property (its value is ignored)
==============  ==================================================================

Choices where the docs are silent (the usual behaviour of Amplitude's SDKs):
a list operation on a property holding a single value first makes it a
one-item list; ``$add`` on a value that is not a number is ignored (nothing
to add to); ``$clearAll`` is applied before the other operations of the same
identification (each property may appear in only one of them, so the others
commute). Values compare as JSON (``1`` and ``1.0`` and ``true`` differ).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["OPERATIONS", "apply_operations", "as_operations"]

OPERATIONS: tuple[str, ...] = (
    "$set", "$setOnce", "$add", "$append", "$prepend", "$preInsert", "$postInsert", "$remove",
    "$unset", "$clearAll",
)


def as_operations(properties: dict[str, Any]) -> dict[str, Any]:
    """Plain ``{name: value}`` is a ``$set`` (reference: "plain {name: value} (treated as a set)")."""
    if any(k.startswith("$") for k in properties):
        return properties
    return {"$set": properties} if properties else {}


def _same(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _as_list(current: dict[str, Any], name: str) -> list[Any]:
    old = current.get(name)
    if old is None:
        return []
    return list(old) if isinstance(old, list) else [old]


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _add(current: dict[str, Any], name: str, value: Any) -> None:
    old = current.get(name, 0)
    if _is_number(old):
        current[name] = old + value


def _append(current: dict[str, Any], name: str, value: Any) -> None:
    current[name] = _as_list(current, name) + _values(value)


def _prepend(current: dict[str, Any], name: str, value: Any) -> None:
    current[name] = _values(value) + _as_list(current, name)


def _insert(front: bool) -> Callable[[dict[str, Any], str, Any], None]:
    def insert(current: dict[str, Any], name: str, value: Any) -> None:
        items = _as_list(current, name)
        seen = {_same(x) for x in items}
        new = []
        for v in _values(value):
            key = _same(v)
            if key not in seen:
                seen.add(key)
                new.append(v)
        current[name] = new + items if front else items + new

    return insert


def _remove(current: dict[str, Any], name: str, value: Any) -> None:
    if name not in current:
        return
    gone = {_same(v) for v in _values(value)}
    current[name] = [x for x in _as_list(current, name) if _same(x) not in gone]


def _set_once(current: dict[str, Any], name: str, value: Any) -> None:
    if current.get(name) is None:
        current[name] = value


def _set(current: dict[str, Any], name: str, value: Any) -> None:
    current[name] = value


def _unset(current: dict[str, Any], name: str, value: Any) -> None:
    current.pop(name, None)


_APPLY: dict[str, Callable[[dict[str, Any], str, Any], None]] = {
    "$set": _set,
    "$setOnce": _set_once,
    "$add": _add,
    "$append": _append,
    "$prepend": _prepend,
    "$preInsert": _insert(front=True),
    "$postInsert": _insert(front=False),
    "$remove": _remove,
    "$unset": _unset,
}


def apply_operations(current: dict[str, Any], operations: dict[str, Any]) -> None:
    """Apply checked operations (``$op -> {name: value}``) to ``current``, in place."""
    if "$clearAll" in operations:
        current.clear()
    for op, changes in operations.items():
        if op == "$clearAll":
            continue
        apply = _APPLY[op]
        for name, value in changes.items():
            apply(current, name, value)
