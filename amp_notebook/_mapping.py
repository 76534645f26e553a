"""Columns -> Amplitude event keys.

A :class:`ResolvedMapping` says, for every event key that will be sent, where
its value comes from: a column of the frame or a constant (:func:`const`).

How :func:`resolve_mapping` decides (a pandas user should be unsurprised):

1. Automatic matching always runs. A column named like an event key maps to it:
   the exact key (``user_id``), or the key or one of its ``_keys.ALIASES``
   compared with ``_keys.normalise_name`` (``User ID``, ``userId``, ``timestamp``).
   The object-valued keys (``event_properties``, ``user_properties``, ``groups``,
   ``plan``) are matched by content too: given the frame, a column named ``plan``
   maps to Amplitude's tracking plan only when it holds dicts; a plain column (a
   subscription plan, "pro"/"free"; JSON text) stays an ordinary column, which the
   report lists as not sent, with how to send it.
   Dotted columns ``event_properties.<name>``, ``user_properties.<name>``,
   ``groups.<type>`` and ``plan.<field>`` go into the nested objects (the name is
   everything after the first dot, kept flat: ``event_properties.a.b`` -> ``"a.b"``).
   So a frame whose columns are already Amplitude keys needs no mapping.
2. An explicit ``mapping`` (and ``constants``) *extends and overrides* that, like
   ``df.rename`` touches only what it names: a key it names is taken from it
   (never auto-matched), a column it uses is not auto-matched to anything else, and
   ``None`` as a value drops a key (``{"time": None}``) or a property.
3. A string in a mapping always names a column; constants are :class:`Const`
   (``const("Purchase")``) or go through ``constants``.

Mapping values:
- a top-level key (``user_id``, ``time``, ``insert_id``, ``$skip_user_properties_sync``
  ...) takes a column label or a ``Const``; ``insert_id`` also takes ``key(...)`` (an id
  made from chosen columns, ``_insert_key``): it is kept apart from the fields
  (``ResolvedMapping.insert_id_key``), so code that reads ``get("insert_id")`` sees no
  insert_id column;
- ``event_properties`` / ``user_properties`` / ``groups`` take a list of columns
  (each named as its column), a dict ``{name: column | Const | None}``, or a single
  column (or ``Const``) holding whole dicts;
- ``plan`` takes a dict ``{"branch" | "source" | "version": column | Const}`` or a
  single column holding dicts;
- dotted keys (``"event_properties.plan": "plan_col"``) name one nested value.
"""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._exceptions import MappingError
from ._insert_key import InsertIdKey, resolve_key
from ._keys import ALIASES, EVENT_KEYS, NESTED_KEYS, PLAN_FIELDS, normalise_name


@dataclass(frozen=True)
class Const:
    """A value used for every row, e.g. ``event_type=const("Purchase")``.

    Explicit on purpose: a string in a mapping always names a column, never a value.
    """

    value: object

    def __repr__(self) -> str:
        return f"const({self.value!r})"


def first_column(df: pd.DataFrame, label: Hashable) -> pd.Series:
    """The column ``label`` of ``df``; with a duplicated label, the first of them."""
    loc = df.columns.get_loc(label)
    if not isinstance(loc, int):
        loc = int(np.flatnonzero(np.asarray(pd.Series(df.columns) == label))[0])
    return df.iloc[:, loc]


def const(value: object) -> Const:
    """Mark ``value`` as a constant for every row (instead of a column name)."""
    return value if isinstance(value, Const) else Const(value)


@dataclass(frozen=True)
class Field:
    """One event value's source.

    ``key`` is a top-level event key (``_keys.EVENT_KEYS``); ``name`` the property,
    group type or plan field inside a nested key, else ``None``; ``source`` a column
    label of the frame or a :class:`Const`.

    A nested key may also have a field with ``name=None``: a column (or constant)
    holding whole dicts, which the named fields of the same key extend/override.
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
    """``fields``: every sent value's source. ``insert_id_key``: ``key(...)`` when the
    insert_id is made from chosen columns, with ``key_sources`` (a column label or a
    ``Const`` per name of the key)."""

    fields: tuple[Field, ...]
    insert_id_key: InsertIdKey | None = None
    key_sources: tuple[Hashable, ...] = ()

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
        for source in self.key_sources:  # a column only in the key feeds the insert_id
            if not isinstance(source, Const):
                seen.setdefault(source, None)
        return list(seen)

    def keys(self) -> list[str]:
        """The top-level event keys that have at least one field."""
        return list(dict.fromkeys(f.key for f in self.fields))

    def to_dict(self) -> dict[str, object]:
        """The mapping as a user would write ``mapping=...`` (constants as ``const(...)``).

        Nested fields become ``{name: source}`` dicts; when a nested key also has a
        whole-object source, its named fields are written as dotted keys instead.
        """
        out: dict[str, object] = {}
        for field in self.fields:
            if field.name is None:
                out[field.key] = field.source
        if self.insert_id_key is not None:
            out["insert_id"] = self.insert_id_key
        for field in self.fields:
            if field.name is None:
                continue
            if field.key in out and not isinstance(out[field.key], dict):
                out[field.path] = field.source
            else:
                sub = out.setdefault(field.key, {})
                assert isinstance(sub, dict)
                sub[field.name] = field.source
        return out

    def __repr__(self) -> str:
        return f"ResolvedMapping({self.to_dict()!r})"


# normalised column name -> event key, for automatic matching.
_AUTO_NAMES: dict[str, str] = {}
for _key in EVENT_KEYS:
    for _name in (_key, *ALIASES.get(_key, ())):
        _norm = normalise_name(_name)
        # Two keys sharing a normalised name would make matching order-dependent.
        assert _AUTO_NAMES.get(_norm, _key) == _key, f"alias clash: {_name!r}"
        _AUTO_NAMES[_norm] = _key

_PREFIXES: dict[str, str] = {f"{key}.": key for key in NESTED_KEYS}

_Source = Hashable | Const
# Sentinel: a key or property the user dropped with None.
_DROP = Const(object())


def _suggest(word: object, candidates: Iterable[object]) -> str | None:
    """A close match for ``word`` among ``candidates`` (strings only), by name or by difflib."""
    if not isinstance(word, str):
        return None
    names = [c for c in candidates if isinstance(c, str)]
    if word in names:
        return word
    norm = normalise_name(word)
    for name in names:
        if normalise_name(name) == norm:
            return name
    matches = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    if not matches:
        lowered = {n.lower(): n for n in names}
        matches = [lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=1)]
    return matches[0] if matches else None


def _suggest_key(word: str) -> str | None:
    """A close event key for an unknown mapping key: an alias first, then difflib."""
    base, dot, rest = word.partition(".")
    if dot:
        key = _suggest_key(base)
        return f"{key}.{rest}" if key in NESTED_KEYS else key
    norm = normalise_name(word)
    if norm in _AUTO_NAMES:
        return _AUTO_NAMES[norm]
    return _suggest(word, EVENT_KEYS)


# Cells looked at to decide whether a column holds dicts (the first non-missing ones).
_OBJECT_SAMPLE = 1000


def holds_objects(values: pd.Series) -> bool:
    """Whether a column holds dicts (or Arrow structs/maps): what an object-valued key takes.

    The first non-missing cells decide (up to 1,000): one dict among them is enough.
    """
    dtype = values.dtype
    if isinstance(dtype, pd.ArrowDtype):
        return str(dtype.pyarrow_dtype).startswith(("struct", "map"))
    if not pd.api.types.is_object_dtype(dtype):
        return False
    seen = 0
    for cell in values.to_numpy():
        if isinstance(cell, Mapping):
            return True
        if cell is None or cell is pd.NA or cell is pd.NaT or (isinstance(cell, float) and cell != cell):
            continue
        seen += 1
        if seen >= _OBJECT_SAMPLE:
            break
    return False


class _Resolver:
    def __init__(self, columns: pd.Index, frame: pd.DataFrame | None = None) -> None:
        self.columns = columns
        self.frame = frame
        self.duplicated = set(columns[columns.duplicated()].tolist())
        # path -> (source, origin) for explicit entries; origin is for messages.
        self.explicit: dict[tuple[str, str | None], _Source] = {}
        self.origin: dict[tuple[str, str | None], str] = {}
        self.insert_id_key: InsertIdKey | None = None

    # -- explicit -------------------------------------------------------------------
    def column(self, label: Hashable, key: str) -> Hashable:
        if label not in self.columns:
            hint = _suggest(label, self.columns)
            # A string in a mapping names a column; a value meant for every row is a const
            # (unless the string is close to a column: then it is a typo).
            as_const = (f"; the same value for every row is written const({label!r})"
                        if isinstance(label, str) and hint is None else "")
            raise MappingError(
                f"mapping for {key!r}: there is no column {label!r}{as_const}", key=key, column=label,
                suggestion=hint,
            )
        if label in self.duplicated:
            raise MappingError(
                f"mapping for {key!r}: the frame has several columns named {label!r}; "
                "rename them so that each column label is unique",
                key=key,
                column=label,
            )
        return label

    def source(self, value: object, key: str) -> _Source:
        if value is None:
            return _DROP
        if isinstance(value, Const):
            return value
        if isinstance(value, (list, dict, set)):
            raise MappingError(
                f"mapping for {key!r}: expected a column label or const(...), got a {type(value).__name__}",
                key=key,
            )
        return self.column(value, key)  # type: ignore[arg-type]

    def add(self, key: str, name: str | None, source: _Source, origin: str) -> None:
        path = (key, name)
        if path in self.explicit:
            label = key if name is None else f"{key}.{name}"
            where = origin if self.origin[path] == origin else f"{self.origin[path]} and {origin}"
            raise MappingError(
                f"{label!r} is given twice (in {where}); give it once",
                key=label,
                column=None if isinstance(source, Const) else source,
            )
        self.explicit[path] = source
        self.origin[path] = origin

    def entry(self, key: str, value: object, origin: str, *, constant: bool = False) -> None:
        base, dot, name = key.partition(".")
        if base not in EVENT_KEYS or (dot and (base not in NESTED_KEYS or not name)):
            raise MappingError(f"unknown event key {key!r} in {origin}", key=key, suggestion=_suggest_key(key))
        if isinstance(value, InsertIdKey):
            self.key_entry(key, value, origin)
            return
        if dot:
            self.nested_name(base, name, origin)
            one = _DROP if value is None else const(value) if constant else self.source(value, key)
            self.add(base, name, one, origin)
            return
        if base not in NESTED_KEYS:
            whole = _DROP if value is None else const(value) if constant else self.source(value, key)
            self.add(base, None, whole, origin)
            return
        # A nested key: a list of columns, a dict of name -> source, or one whole-object source.
        if isinstance(value, Mapping):
            for sub, sub_value in value.items():
                if not isinstance(sub, str):
                    raise MappingError(
                        f"{base!r}: names inside it must be strings, got {sub!r}", key=base
                    )
                self.nested_name(base, sub, origin)
                path = f"{base}.{sub}"
                if sub_value is None:
                    src: _Source = _DROP
                else:
                    src = const(sub_value) if constant else self.source(sub_value, path)
                self.add(base, sub, src, origin)
        elif not constant and (isinstance(value, list) or (isinstance(value, tuple) and value not in self.columns)):
            for label in value:
                label = self.column(label, base)
                name = str(label)
                self.nested_name(base, name, origin)
                self.add(base, name, label, origin)
        else:
            src = _DROP if value is None else const(value) if constant else self.source(value, base)
            self.add(base, None, src, origin)

    def key_entry(self, key: str, value: InsertIdKey, origin: str) -> None:
        if key != "insert_id":
            raise MappingError(f"{value!r} makes an insert_id; it cannot be the source of {key!r}", key=key)
        self.add("insert_id", None, _DROP, origin)  # no insert_id column, automatic or not
        self.insert_id_key = value

    def key_sources(self, fields: Iterable[Field]) -> tuple[Hashable, ...]:
        if self.insert_id_key is None:
            return ()
        sources: dict[str, Hashable] = {f.path: f.source for f in fields}
        return resolve_key(
            self.insert_id_key,
            lambda name: self.column(name, "insert_id") if name in self.columns else None,
            sources,
            lambda name: _suggest(name, self.columns),
        )

    @staticmethod
    def nested_name(key: str, name: str, origin: str) -> None:
        if key == "plan" and name not in PLAN_FIELDS:
            # Reference, "Event keys" -> plan: only branch, source, version.
            raise MappingError(
                f"plan has only the fields {list(PLAN_FIELDS)}, not {name!r} (in {origin})",
                key=f"plan.{name}",
                suggestion=_suggest(name, PLAN_FIELDS),
            )

    # -- automatic ------------------------------------------------------------------
    def automatic(self) -> list[Field]:
        used = {src for src in self.explicit.values() if not isinstance(src, Const)}
        taken = set(self.explicit)
        matches: dict[tuple[str, str | None], list[Hashable]] = {}
        for label in self.columns:
            if not isinstance(label, str) or label in used:
                continue
            path = self.auto_path(label)
            if path is not None and path not in taken and self.content_fits(label, path):
                matches.setdefault(path, []).append(label)
        fields = []
        for (key, name), labels in matches.items():
            path_text = key if name is None else f"{key}.{name}"
            if len(set(labels)) == 1 and len(labels) > 1:
                raise MappingError(
                    f"the frame has {len(labels)} columns named {labels[0]!r} (matching the event "
                    f"key {path_text!r}); rename them so that each column label is unique",
                    key=path_text,
                    column=labels[0],
                )
            if len(labels) > 1:
                best = _suggest(path_text, labels) or str(labels[0])
                raise MappingError(
                    "columns " + ", ".join(map(repr, labels)) + f" all match the event key "
                    f"{path_text!r}: name the one to use, e.g. mapping={{{path_text!r}: {best!r}}}, "
                    "or rename the others",
                    key=path_text,
                    column=labels[0],
                    suggestion=best,
                )
            fields.append(Field(key, name, labels[0]))
        return fields

    def content_fits(self, label: Hashable, path: tuple[str, str | None]) -> bool:
        """An object-valued key (a whole event_properties, plan, ...) takes a column
        only if it holds dicts; without the frame, the name decides."""
        key, name = path
        if name is not None or key not in NESTED_KEYS or self.frame is None:
            return True
        return holds_objects(first_column(self.frame, label))

    @staticmethod
    def auto_path(label: str) -> tuple[str, str | None] | None:
        for prefix, key in _PREFIXES.items():
            if label.startswith(prefix) and len(label) > len(prefix):
                name = label[len(prefix) :]
                _Resolver.nested_name(key, name, f"column {label!r}")
                return key, name
        auto = _AUTO_NAMES.get(normalise_name(label))
        return None if auto is None else (auto, None)


def resolve_mapping(
    columns: pd.DataFrame | pd.Index | Iterable[Hashable],
    mapping: Mapping[str, object] | ResolvedMapping | None = None,
    constants: Mapping[str, object] | None = None,
) -> ResolvedMapping:
    """Resolve which column (or constant) feeds each event key; see the module docstring.

    ``columns``: the frame (its contents decide the object-valued keys) or its labels.
    A ``mapping`` already resolved is used as it is: a Dask upload resolves once, on a
    sample, so that every partition maps the same columns whatever its contents.

    ``constants`` maps a key (``"event_type"``, ``"event_properties.source"``, or a
    nested key with a dict) to a value used for every row; strings there are values.
    Raises :class:`MappingError` naming the key and column, with a close match when
    there is one.
    """
    if isinstance(mapping, ResolvedMapping):
        return mapping
    frame = columns if isinstance(columns, pd.DataFrame) else None
    if frame is not None:
        columns = frame.columns
    if not isinstance(columns, pd.Index):
        columns = pd.Index(list(columns), tupleize_cols=False)
    assert isinstance(columns, pd.Index)
    if isinstance(columns, pd.MultiIndex):
        raise MappingError(
            "the frame has MultiIndex columns; flatten them first, e.g. "
            "df.columns = ['.'.join(map(str, c)) for c in df.columns]"
        )
    resolver = _Resolver(columns, frame)
    for key, value in (mapping or {}).items():
        if not isinstance(key, str):
            raise MappingError(f"mapping keys are event keys (strings), got {key!r}", key=None, column=key)
        resolver.entry(key, value, "mapping")
    for key, value in (constants or {}).items():
        resolver.entry(key, value, "constants", constant=True)

    auto = resolver.automatic()
    by_path: dict[tuple[str, str | None], Field] = {(f.key, f.name): f for f in auto}
    for (key, name), src in resolver.explicit.items():
        if src is not _DROP:
            by_path[(key, name)] = Field(key, name, src)
    # A dropped whole-object source (e.g. {"event_properties": None}) drops the
    # automatic dotted columns of that key as well: "no event_properties".
    dropped_objects = {k for (k, n), s in resolver.explicit.items() if s is _DROP and n is None}

    order = {key: i for i, key in enumerate(EVENT_KEYS)}
    fields = sorted(
        (f for f in by_path.values() if f.key not in dropped_objects or (f.key, f.name) in resolver.explicit),
        key=lambda f: (order[f.key], f.name is not None),
    )
    return ResolvedMapping(tuple(fields), resolver.insert_id_key, resolver.key_sources(fields))


__all__ = ["Const", "Field", "MappingError", "ResolvedMapping", "const", "resolve_mapping"]
