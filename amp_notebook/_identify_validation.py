"""Identify's and Group Identify's rules over a frame: one failures row per problem.

Column-wise, with the event validator's checks where the rule is the same
(identify-api.md: "same id rules as events", "Strings up to 1024 characters",
"Nesting depth at most 40"): ids, string lengths and nested values go through
``_validation._Validator``. The rules of Identify itself:

- ``add`` needs numbers (``add_not_a_number``); ``append``/``prepend``/
  ``preInsert``/``postInsert``/``remove`` take a value or a list, not an object
  (``list_operation_object``) ("User property operations");
- a group identify needs a group type and value (``group_missing``), and at most
  1024 group properties fit in a request (``too_many_properties``);
- warnings: two rows for one user or group (``duplicate_id``: both are sent in
  frame order, the later wins, an add adds both); a user's rows beyond 1800
  (``updates_per_hour``: Amplitude drops updates beyond 1800 per user per hour);
  a location (device) field set without the others of its group
  (``field_group_reset``: "setting one resets the others").

Dates need no rule: they are sent as ISO 8601 strings (``_identify_encoding``).
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

from . import _rules as R
from ._identify_encoding import sent_values
from ._identify_mapping import (
    DEVICE_FIELDS,
    LIST_OPERATIONS,
    LOCATION_FIELDS,
    IdentifyMapping,
    Property,
)
from ._mapping import Field
from ._report import ValidationReport
from ._rule_table import Reason
from ._validation import (
    CHUNK_ROWS,
    ValidateOptions,
    _Collector,
    _per_value,
    _said,
    _say,
    _Source,
    _source,
    _Validator,
    empty_failures,
)

__all__ = ["GROUP_PROPERTY_LIMIT", "HOURLY_UPDATES", "validate_identify"]

HOURLY_UPDATES = 1800  # identify-api.md: "drops user-property updates for a user beyond 1800 per hour"
GROUP_PROPERTY_LIMIT = 1024  # identify-api.md, Group Identify: "at most 1024 group properties per request"


class _IdentifyValidator(_Validator):
    noun = "identification"
    short_id_cases = ("identify", "identify kept")

    def __init__(self, df: pd.DataFrame, m: IdentifyMapping) -> None:
        super().__init__(df, m.resolved(), ValidateOptions())
        self.m = m

    def sent(self, src: _Source) -> pd.Series:
        """The values exactly as the identify encoder sends them (ids and fields as strings)."""
        kind = "string" if src.field.name is None else "property"
        out = np.empty(len(src.values), dtype=object)
        out[:] = sent_values(src.values, kind)
        return cast(pd.Series, pd.Series(out, dtype=object))

    def run(self) -> pd.DataFrame:
        m = self.m
        if m.kind == "user":
            for key in ("user_id", "device_id"):
                field = m.id_field(key)
                if field is not None:
                    self.top_level(_source(self.df, field))
            for key, source in m.fields.items():
                self.top_level(_source(self.df, Field(key, None, source)))
            self.id_rules()
            self.field_groups()
        else:
            self.group_ids()
        for prop in m.properties:
            self.property(prop)
        return self.out.frame(self.df.index)

    def property(self, prop: Property) -> None:
        src = _source(self.df, Field(self.m.properties_key, prop.name, prop.source))
        self.properties(src)  # strings <= 1024, nesting <= 40, as for event properties
        op = prop.operation[1:]
        if prop.operation == "$add":
            num = R.numbers(src.values)
            self.out.add(src, num.bad, Reason.ADD_NOT_A_NUMBER, _say(Reason.ADD_NOT_A_NUMBER, name=prop.name))
        elif prop.operation in LIST_OPERATIONS:
            cells = src.values.to_numpy(dtype=object)
            objects = np.fromiter((isinstance(v, dict) for v in cells), bool, len(cells))
            self.out.add(
                src, objects, Reason.LIST_OPERATION_OBJECT, _say(Reason.LIST_OPERATION_OBJECT, name=prop.name, op=op)
            )

    def group_ids(self) -> None:
        for key in ("group_type", "group_value"):
            field = self.m.id_field(key)
            if field is None:
                self.out.add(
                    None, np.ones(self.n, dtype=bool), Reason.GROUP_MISSING,
                    _say(Reason.GROUP_MISSING, "unmapped", key=key), case="unmapped", key=key,
                )
                continue
            src = _source(self.df, field)
            strings = self.strings(src)
            blank = R.missing(strings) | R.mask(strings.fillna("").str.strip().str.len() == 0)
            self.out.add(src, blank, Reason.GROUP_MISSING, _say(Reason.GROUP_MISSING, key=key))
            self.string_length(src, strings)
        if len(self.m.properties) > GROUP_PROPERTY_LIMIT:
            self.out.add(
                None, np.ones(self.n, dtype=bool), Reason.TOO_MANY_PROPERTIES,
                _say(Reason.TOO_MANY_PROPERTIES, n=len(self.m.properties), limit=GROUP_PROPERTY_LIMIT),
                key="group_properties",
            )

    def field_groups(self) -> None:
        """Location (device) fields are set together: one alone resets the others (a warning)."""
        for group, what in ((LOCATION_FIELDS, "location"), (DEVICE_FIELDS, "device")):
            mapped = [k for k in group if k in self.present]
            if not mapped:
                continue
            present = np.column_stack([self.present[k][1] if k in self.present else np.zeros(self.n, bool) for k in group])
            partial = np.asarray(present.any(axis=1) & ~present.all(axis=1), dtype=bool)
            codes = present[partial] @ (1 << np.arange(len(group)))
            src = self.present[mapped[0]][0]

            def text(code: object, group: tuple[str, ...] = group, what: str = what) -> str:
                given = [k for i, k in enumerate(group) if int(code) >> i & 1]  # type: ignore[call-overload]
                missing = [k for k in group if k not in given]
                return _say(Reason.FIELD_GROUP_RESET, given=", ".join(given), missing=", ".join(missing), what=what)

            self.out.add(src, partial, Reason.FIELD_GROUP_RESET, _per_value(codes, text), values=self.values_at(src, partial))


def _identities(df: pd.DataFrame, m: IdentifyMapping) -> tuple[pd.Series, str]:
    """Who each row updates, as sent (user_id, else device_id; or type + value), and what to call it."""
    v = _IdentifyValidator(df, m)

    def strings(key: str) -> pd.Series:
        field = m.id_field(key)
        if field is None:
            return cast(pd.Series, pd.Series(np.full(len(df), np.nan, dtype=object), dtype=object))
        src = _source(df, field)
        values = v.strings(src) if not src.const else pd.Series([src.values.iloc[0]] * len(df), dtype=object)
        return cast(pd.Series, values.astype(object).reset_index(drop=True))

    if m.kind == "group":
        # object dtype throughout: pandas 3's str dtype cannot add an object column (a
        # group_value column of only missing cells is one).
        return strings("group_type").astype(str).astype(object) + "\x00" + strings("group_value"), "group"
    users = strings("user_id")
    return users.where(users.notna(), "device:" + strings("device_id")), "user"


def _frame_wide(df: pd.DataFrame, m: IdentifyMapping) -> pd.DataFrame:
    """duplicate_id and updates_per_hour: across the whole frame, not per slice."""
    who, noun = _identities(df, m)
    known = who.notna().to_numpy()
    out = _Collector(df, m.resolved())
    key = "group_value" if noun == "group" else "user_id"
    # Highlight the id cell: user_id (or device_id when it is the only id), group_value.
    id_field = m.id_field(key) or m.id_field("device_id")
    src = None if id_field is None else _source(df, id_field)
    if not known.any():
        return out.frame(df.index)
    seen = who[known]
    later = np.zeros(len(df), dtype=bool)
    later[np.flatnonzero(known)[seen.duplicated(keep="first").to_numpy()]] = True
    first_pos = pd.Series(np.flatnonzero(known), index=seen.to_numpy()).groupby(level=0).first()
    labels = df.index.to_flat_index() if isinstance(df.index, pd.MultiIndex) else df.index
    firsts = labels.take(first_pos.reindex(who[later].to_numpy()).to_numpy()).tolist()
    say = _said(Reason.DUPLICATE_ID, "", "row", None, noun=noun)  # a message per later row: checked once
    out.add(src, later, Reason.DUPLICATE_ID, [say(f) for f in firsts], key=key)
    if noun == "user":
        nth = seen.groupby(seen.to_numpy()).cumcount().to_numpy()
        over = np.zeros(len(df), dtype=bool)
        over[np.flatnonzero(known)[nth >= HOURLY_UPDATES]] = True
        out.add(src, over, Reason.UPDATES_PER_HOUR, _say(Reason.UPDATES_PER_HOUR, limit=HOURLY_UPDATES), key=key)
    return out.frame(df.index)


def validate_identify(df: pd.DataFrame, m: IdentifyMapping) -> ValidationReport:
    """Check every row of ``df`` against Identify's (or Group Identify's) rules; never mutates ``df``."""
    columns = m.resolved().columns()
    if len(df) == 0:
        return ValidationReport(df, empty_failures(), columns=columns)
    parts = []
    for start in range(0, len(df), CHUNK_ROWS):  # every per-row rule is about one row: bounded memory
        part = _IdentifyValidator(df.iloc[start : start + CHUNK_ROWS], m).run()
        part.index = part.index + start
        parts.append(part)
    wide = _frame_wide(df, m)
    failures = pd.concat([*parts, wide]).sort_index(kind="stable") if len(wide) else pd.concat(parts)
    report = ValidationReport(df, failures, columns=columns)
    # Every column not left out explicitly is sent (as a property): what is left out was
    # chosen, and the event report's "send them as event properties" hint does not apply.
    report.unmapped = []
    return report
