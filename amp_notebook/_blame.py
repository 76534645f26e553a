"""Which of the user's columns a server rejection is about.

Amplitude's 400 names event keys (reference, "Responses": ``events_with_invalid_fields``,
``events_with_missing_fields``, ``events_with_invalid_id_lengths``: key -> event
indexes), and :class:`~._responses.Rejection` keeps them in ``fields``. A user fixes
a column, not a key, so the row's message names the column(s) the key was built from:
"Amplitude rejected the event: invalid value for 'time' (time from column 'ts')".

Pure: the resolved mapping in, a function of a rejection out.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from ._mapping import ResolvedMapping
from ._responses import Rejection

__all__ = ["columns_of", "naming_columns"]


def columns_of(mapping: ResolvedMapping, key: str) -> list[Hashable]:
    """The frame's columns that event key ``key`` is built from (constants left out), in mapping order."""
    return list(dict.fromkeys(f.source for f in mapping.fields if f.key == key and not f.is_const))


def _named(mapping: ResolvedMapping, key: str) -> str | None:
    columns = columns_of(mapping, key)
    if not columns or columns == [key]:
        return None  # a constant, or a column named as its key: the message names it already
    return f"{key} from column{'s' if len(columns) > 1 else ''} " + ", ".join(repr(c) for c in columns)


def naming_columns(mapping: ResolvedMapping) -> Callable[[Rejection], str]:
    """``rejection -> message``: the rejection's message, with the columns of the keys it blames."""
    said: dict[tuple[str, tuple[str, ...]], str] = {}  # a few distinct texts for many rows

    def message(rejection: Rejection) -> str:
        keys = rejection.fields or ((rejection.field,) if rejection.field else ())
        if not keys:
            return rejection.message
        text = said.get((rejection.message, keys))
        if text is None:
            names = [n for n in (_named(mapping, k) for k in keys) if n]
            text = f"{rejection.message} ({'; '.join(names)})" if names else rejection.message
            said[(rejection.message, keys)] = text
        return text

    return message
