"""Columns -> identifications: which column is an id, an Amplitude field, or a property, and its operation.

Reference: ``shared/reference/identify-api.md``. A frame for Identify has one row
per user (or device): ids, then property columns; for Group Identify one row
per group: the group value, then property columns. How :func:`resolve_identify`
decides (a pandas user should be unsurprised):

1. Ids (``user_id``, ``device_id``) and Amplitude's own fields (``platform``,
   ``country``, ...; Identify only) are matched by name like event keys
   (``userId``, ``uid``, ``device-id`` ...), unless ``mapping`` names them.
2. Every other column is a property, named as the column (a ``user_properties.``
   or ``group_properties.`` prefix is dropped), unless ``mapping`` gives
   ``"user_properties"`` (``"group_properties"``): a list of columns, or
   ``{name: column | const(...) | None}``; then exactly those are sent.
   ``mapping={"column": None}`` leaves a column out.
3. Each property gets ``operation`` (default ``"set"``) unless ``operations``
   names it: ``operations={"plan": "set", "logins": "add", "first_seen":
   "setOnce", "tags": "append"}``. Operation names are Amplitude's, with or
   without the ``$``. One property is in one operation (the reference: "One
   property may appear in only one operation per identification"): by
   construction, since a property is one column. ``clearAll`` (remove every
   property of the user) is not offered for a frame.
4. A missing cell (NaN, None, NaT) leaves the property unchanged: it is absent
   from the identification, never "set to null". ``unset_missing=True`` (or a list
   of property names) turns a missing cell of a ``set`` property into ``$unset``.
"""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from ._exceptions import ConfigurationError, MappingError
from ._keys import ALIASES, MAX_STRING_LENGTH, normalise_name
from ._mapping import Const, Field, ResolvedMapping, const

__all__ = [
    "ACCUMULATING",
    "FIELDS",
    "OPERATIONS",
    "IdentifyMapping",
    "Property",
    "plan_identify",
    "resolve_identify",
]

Kind = Literal["user", "group"]

# identify-api.md, "User property operations" (the same serve group properties).
OPERATIONS: tuple[str, ...] = (
    "$set", "$setOnce", "$add", "$append", "$prepend", "$preInsert", "$postInsert", "$remove", "$unset",
)
# Not idempotent: every copy applied adds again ("$add ... sent twice, added twice").
ACCUMULATING = frozenset({"$add", "$append", "$prepend"})
# Operations that take a value or a list of values.
LIST_OPERATIONS = frozenset({"$append", "$prepend", "$preInsert", "$postInsert", "$remove"})

# identify-api.md, the identification object: Amplitude's own user properties (strings).
LOCATION_FIELDS: tuple[str, ...] = ("country", "region", "city", "dma")
DEVICE_FIELDS: tuple[str, ...] = (
    "platform", "os_name", "os_version", "device_brand", "device_manufacturer", "device_model", "carrier",
)
FIELDS: tuple[str, ...] = ("app_version", "start_version", "language", "paying", *DEVICE_FIELDS, *LOCATION_FIELDS)

_ID_KEYS = {"user": ("user_id", "device_id"), "group": ("group_type", "group_value")}
_PROPERTIES = {"user": "user_properties", "group": "group_properties"}
_BY_NAME = {normalise_name(op): op for op in (*OPERATIONS, "$clearAll")}
_BY_NAME.update({"setonce": "$setOnce", "preinsert": "$preInsert", "postinsert": "$postInsert"})


def operation_name(name: object, where: str) -> str:
    """``"add"``, ``"$add"``, ``"setOnce"``, ``"set_once"`` -> the reference's ``$`` name."""
    op = _BY_NAME.get(normalise_name(name)) if isinstance(name, str) else None
    if op == "$clearAll":
        raise ConfigurationError(
            f"{where}: clearAll removes every property of the user and is not offered for a frame; "
            "use unset on the properties to remove"
        )
    if op is None:
        names = ", ".join(o[1:] for o in OPERATIONS)
        close = difflib.get_close_matches(str(name).lstrip("$"), [o[1:] for o in OPERATIONS], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigurationError(f"{where}: unknown operation {name!r}{hint}; the operations are {names}")
    return op


@dataclass(frozen=True)
class Property:
    """One property column: its name as sent, its source, and its operation (``$set`` ...)."""

    name: str
    source: Hashable | Const
    operation: str
    unset_missing: bool = False  # a missing cell becomes $unset (set properties only)


@dataclass(frozen=True)
class IdentifyMapping:
    """Where each part of an identification comes from (see the module docstring)."""

    kind: Kind
    ids: Mapping[str, Hashable | Const]  # user_id/device_id, or group_type/group_value
    fields: Mapping[str, Hashable | Const]  # Amplitude's own fields (Identify only)
    properties: tuple[Property, ...]

    @property
    def properties_key(self) -> str:
        return _PROPERTIES[self.kind]

    def id_field(self, key: str) -> Field | None:
        source = self.ids.get(key)
        return None if source is None else Field(key, None, source)

    def resolved(self) -> ResolvedMapping:
        """Every source as mapping Fields (ids, fields, then properties as ``<key>.<name>``)."""
        key = self.properties_key
        fields = [Field(k, None, s) for k, s in self.ids.items()]
        fields += [Field(k, None, s) for k, s in self.fields.items()]
        fields += [Field(key, p.name, p.source) for p in self.properties]
        return ResolvedMapping(tuple(fields))

    def to_dict(self) -> dict[str, object]:
        """The mapping and operations as a user would write them."""
        out: dict[str, object] = {**self.ids, **self.fields}
        out[self.properties_key] = {p.name: p.source for p in self.properties}
        return out

    def operations(self) -> dict[str, str]:
        return {p.name: p.operation.lstrip("$") for p in self.properties}


def _check_column(columns: pd.Index, label: object, key: str) -> Hashable:
    if isinstance(label, Const):
        return label
    if label not in columns:
        close = difflib.get_close_matches(str(label), [str(c) for c in columns], n=1)
        raise MappingError(f"mapping for {key!r}: there is no column {label!r}", key=key, column=label,  # type: ignore[arg-type]
                           suggestion=close[0] if close else None)
    return label  # type: ignore[return-value]


def _auto_key(label: object, keys: Iterable[str]) -> str | None:
    if not isinstance(label, str):
        return None
    norm = normalise_name(label)
    for key in keys:
        if norm == normalise_name(key) or norm in {normalise_name(a) for a in ALIASES.get(key, ())}:
            return key
    return None


class _Resolver:
    """The three steps of the module docstring: the explicit mapping, names, the other columns."""

    def __init__(self, columns: pd.Index, kind: Kind) -> None:
        self.columns, self.kind = columns, kind
        self.prop_key = _PROPERTIES[kind]
        self.id_keys = _ID_KEYS[kind]
        self.known = (*self.id_keys, *(FIELDS if kind == "user" else ()))
        self.ids: dict[str, Hashable | Const] = {}
        self.fields: dict[str, Hashable | Const] = {}
        self.dropped: set[Hashable] = set()
        self.properties: dict[str, Hashable | Const] | None = None  # None: every other column
        self.dotted: dict[str, Hashable | Const | None] = {}

    def explicit(self, mapping: Mapping[str, object]) -> None:
        for key, value in mapping.items():
            base, dot, name = key.partition(".") if isinstance(key, str) else (key, "", "")
            if key in self.known:
                if value is None:
                    self.dropped.add(key)
                else:
                    (self.ids if key in self.id_keys else self.fields)[key] = _check_column(self.columns, value, key)
            elif base == self.prop_key and dot and name:
                self.dotted[name] = None if value is None else _check_column(self.columns, value, key)
            elif key == self.prop_key:
                self.properties = _explicit_properties(self.columns, value, self.prop_key)
            elif key in self.columns and value is None:
                self.dropped.add(key)  # {"column": None}: leave the column out
            else:
                self.unknown(key)

    def unknown(self, key: object) -> None:
        hint = difflib.get_close_matches(str(key), [*self.known, self.prop_key], n=1)
        raise MappingError(
            f"unknown key {key!r} in mapping: it takes {', '.join(self.id_keys)}"
            + (", Amplitude's fields (platform, country, ...)" if self.kind == "user" else "")
            + f", {self.prop_key!r} (a list of columns or a dict) or '{self.prop_key}.<name>'; a column to "
            "leave out is given as {'column': None}",
            key=str(key), suggestion=hint[0] if hint else None,
        )

    def by_name(self) -> set[Hashable]:
        """Ids and fields matched by column name; returns the columns used so far."""
        used = {s for s in (*self.ids.values(), *self.fields.values()) if not isinstance(s, Const)}
        for label in self.columns:
            if label in used or label in self.dropped:
                continue
            free = [k for k in self.known if k not in self.ids and k not in self.fields and k not in self.dropped]
            auto = _auto_key(label, free)
            if auto is not None:
                (self.ids if auto in self.id_keys else self.fields)[auto] = label
                used.add(label)
        return used

    def property_sources(self, used: set[Hashable]) -> dict[str, Hashable | Const]:
        props = self.properties
        if props is None:
            props = {}
            prefix = self.prop_key + "."
            for label in self.columns:
                if label in used or label in self.dropped:
                    continue
                name = str(label)
                name = name[len(prefix):] if name.startswith(prefix) else name
                if name in props:
                    _twice(name, label)
                props[name] = label
        for name, source in self.dotted.items():
            if source is None:
                props.pop(name, None)
            else:
                props[name] = source
        return props


def resolve_identify(
    columns: pd.Index | Iterable[Hashable],
    kind: Kind,
    mapping: Mapping[str, object] | None = None,
    *,
    operation: str = "set",
    operations: Mapping[str, str] | None = None,
    unset_missing: bool | Iterable[str] = False,
) -> IdentifyMapping:
    """Resolve ids, fields and properties (see the module docstring); MappingError names the key and column."""
    columns = columns if isinstance(columns, pd.Index) else pd.Index(list(columns), tupleize_cols=False)
    r = _Resolver(columns, kind)
    r.explicit(mapping or {})
    sources = r.property_sources(r.by_name())
    props = _with_operations(sources, operation, operations, unset_missing)
    return IdentifyMapping(kind, r.ids, r.fields, props)


def _twice(name: str, label: Hashable) -> None:
    raise MappingError(
        f"two columns give the property {name!r} (one of them {label!r}): a property is in one operation "
        "only; drop or rename one", key=name, column=label,
    )


def _explicit_properties(columns: pd.Index, value: object, key: str) -> dict[str, Hashable | Const]:
    out: dict[str, Hashable | Const] = {}
    if isinstance(value, Mapping):
        for name, source in value.items():
            if source is not None:
                out[str(name)] = _check_column(columns, source, f"{key}.{name}")
    elif isinstance(value, (list, tuple)):
        for label in value:
            if str(label) in out:
                _twice(str(label), label)
            out[str(label)] = _check_column(columns, label, key)
    else:
        raise MappingError(f"{key!r} takes a list of columns or a dict {{name: column}}, not {type(value).__name__}",
                           key=key)
    return out


def _with_operations(
    sources: Mapping[str, Hashable | Const],
    operation: str,
    operations: Mapping[str, str] | None,
    unset_missing: bool | Iterable[str],
) -> tuple[Property, ...]:
    default = operation_name(operation, "operation")
    by_name = {str(name): operation_name(op, f"operations[{name!r}]") for name, op in (operations or {}).items()}
    # operations may name a property or the column it comes from.
    by_source = {s: n for n, s in sources.items() if not isinstance(s, Const)}
    chosen: dict[str, str] = {}
    for name, op in by_name.items():
        prop = name if name in sources else by_source.get(name)
        if prop is None:
            raise MappingError(f"operations names {name!r}, which is not a property being sent", key=name,
                               suggestion=next(iter(difflib.get_close_matches(name, list(sources), n=1)), None))
        chosen[prop] = op
    unset = set(sources) if unset_missing is True else set() if unset_missing is False else set(unset_missing)
    unknown = unset - set(sources)
    if unknown:
        raise MappingError(f"unset_missing names {sorted(unknown)!r}, not properties being sent", key=sorted(unknown)[0])
    props = []
    for name, source in sources.items():
        if len(name) > MAX_STRING_LENGTH:
            raise MappingError(f"the property name {name[:40]!r}... is over {MAX_STRING_LENGTH} characters",
                               key=name[:40])
        op = chosen.get(name, default)
        props.append(Property(name, source, op, unset_missing=name in unset and op == "$set"))
    return tuple(props)


def plan_identify(
    df: pd.DataFrame,
    kind: Kind,
    mapping: Mapping[str, object] | None = None,
    *,
    group_type: object = None,
    group_value: object = None,
    operation: str = "set",
    operations: Mapping[str, str] | None = None,
    unset_missing: bool | Iterable[str] = False,
) -> IdentifyMapping:
    """The resolved mapping: ``group_type`` is a value (the same for every row), ``group_value`` a column."""
    given = dict(mapping or {})
    if kind == "group":
        for key, value in (("group_type", None if group_type is None else const(group_type)),
                           ("group_value", group_value)):
            if value is None:
                continue
            if key in given:
                raise MappingError(f"{key} is given twice (as an argument and in mapping); give it once", key=key)
            given[key] = value
    elif group_type is not None or group_value is not None:
        raise ConfigurationError("group_type and group_value are for group_identify()")
    return resolve_identify(df.columns, kind, given, operation=operation, operations=operations,
                            unset_missing=unset_missing)
