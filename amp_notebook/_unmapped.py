"""The frame's columns that no event key uses, and how to send them.

Automatic mapping takes only columns named like event keys (``_mapping``); any other
column (an ``amount``, a ``props``, the ``Unnamed: 0`` index column that ``read_csv``
makes of a saved index) is left out of every event. Nothing may be lost without a
word, so the report, the mapper and the CLI name these columns with this text.
Pure: labels in, text out.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence

from ._keys import NESTED_KEYS, normalise_name

__all__ = ["unmapped_columns", "unmapped_text"]

# read_csv names a header-less first column (a saved index) "Unnamed: 0".
_SAVED_INDEX = re.compile(r"Unnamed: \d+(_level_\d+)?")
_SHOWN = 10  # names listed in the text
_IN_HINT = 30  # names written into the copyable hint
_OBJECT_NAMES = {normalise_name(k): k for k in NESTED_KEYS}
# Not suggested as a property: a property named "event_properties" is never what is meant.
_PROPERTY_OBJECTS = ("event_properties", "user_properties")


def unmapped_columns(columns: Iterable[Hashable], used: Iterable[Hashable]) -> list[Hashable]:
    """The ``columns`` (in order, each once) not in ``used`` (``ResolvedMapping.columns()``)."""
    taken = set(used)
    return list(dict.fromkeys(c for c in columns if c not in taken))


def _names(labels: Sequence[Hashable]) -> str:
    shown = ", ".join(repr(c) for c in labels[:_SHOWN])
    return shown + (f" and {len(labels) - _SHOWN:,} more" if len(labels) > _SHOWN else "")


def unmapped_text(columns: Sequence[Hashable], *, cli: bool = False) -> str:
    """One paragraph: which columns are not sent and how to send them ("" when none).

    ``cli``: the hint in ``--map`` syntax instead of ``mapping=``.
    """
    if not columns:
        return ""
    saved = [c for c in columns if isinstance(c, str) and _SAVED_INDEX.fullmatch(c)]
    # Named like an object key but holding no dicts (see _mapping.holds_objects).
    objects: dict[Hashable, str] = {
        c: _OBJECT_NAMES[normalise_name(c)]
        for c in columns
        if isinstance(c, str) and normalise_name(c) in _OBJECT_NAMES
    }
    data = [c for c in columns if c not in saved and objects.get(c) not in _PROPERTY_OBJECTS]
    noun = "column is" if len(columns) == 1 else "columns are"
    parts = [f"{len(columns):,} {noun} not sent (no event key): {_names(list(columns))}."]
    if data:
        if len(data) > _IN_HINT:  # the hint would be a wall of names: say the form only
            how = "--map event_properties=COL1,COL2,..." if cli else "mapping={'event_properties': [col1, col2, ...]}"
            how += " with the ones you want"
        elif cli:
            how = "--map event_properties=" + ",".join(map(str, data))
        else:
            how = f"mapping={{'event_properties': {list(data)!r}}}"
        parts.append(f"To send them as event properties, add {how} (the automatic mapping is kept).")
    for c, key in objects.items():
        parts.append(
            f"{c!r} is named like Amplitude's {key} object, which automatic mapping fills only "
            f"from a column of dicts (JSON text? parse it with df[{c!r}].map(json.loads) to send it as {key})."
        )
    if saved:
        parts.append(
            f"{_names(saved)} looks like an index saved by to_csv: read the file with "
            "index_col=0, or drop the column."
        )
    return " ".join(parts)
