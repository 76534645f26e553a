"""Amplitude's rules as data: per reason, its severity, where it is written, which check
raises it, and the words of its messages.

The checks (``_validation``, ``_identify_validation``, ``_preflight``, ``_time_text``)
decide *where* a rule is broken; this table says *what* that is called, how bad it is
and how it reads: a check takes a message only from here (``RULES[reason].message(...)``)
and the failures table takes the severity only from here. A rule's ``reference`` is its
section of ``shared/reference/amplitude-api.md`` (or ``identify-api.md``).

A reason can read several ways (a ``case``: the id is the only one, or another id keeps
the event; time before 2000 in a numeric or a text column ...). A case may change the
severity (``severities``), and where an option picks the case (``missing_time=``), the
case is named after the option's value, so the table says what the option does.
Templates are ``str.format`` strings; ``LIMITS`` (the catalogue's numbers) fill the
fields of the same names, the check gives the rest.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ._keys import MAX_GROUP_TYPES, MAX_GROUP_VALUES, MAX_NESTING_DEPTH, MAX_STRING_LENGTH

__all__ = ["LIMITS", "RULES", "Origin", "Reason", "Rule", "Severity"]


class Severity(str, Enum):
    """How bad a problem is: an ERROR row is not sent; a WARNING row is sent as it is."""

    ERROR = "error"
    WARNING = "warning"

    def __str__(self) -> str:
        return self.value


class Reason(str, Enum):
    """Stable reason codes of the failures table (``failures["reason"]`` holds the value)."""

    EVENT_TYPE_MISSING = "event_type_missing"
    EVENT_TYPE_RESERVED = "event_type_reserved"
    EVENT_TYPE_FORMERLY_RESERVED = "event_type_formerly_reserved"
    ID_MISSING = "id_missing"
    ID_TOO_SHORT = "id_too_short"
    ID_INVALID = "id_invalid"
    DEVICE_ID_ALL_ZERO = "device_id_all_zero"
    TIME_INVALID = "time_invalid"
    TIME_SUSPICIOUS = "time_suspicious"
    STRING_TOO_LONG = "string_too_long"
    NESTING_TOO_DEEP = "nesting_too_deep"
    GROUPS_TOO_MANY = "groups_too_many"
    REVENUE_INCOMPLETE = "revenue_incomplete"
    REVENUE_MISMATCH = "revenue_mismatch"
    NOT_A_NUMBER = "not_a_number"
    NOT_AN_INTEGER = "not_an_integer"
    INTEGER_OUT_OF_RANGE = "integer_out_of_range"
    LAT_OUT_OF_RANGE = "lat_out_of_range"
    LNG_OUT_OF_RANGE = "lng_out_of_range"
    SESSION_ID_INVALID = "session_id_invalid"
    PLAN_INVALID = "plan_invalid"
    NOT_A_BOOLEAN = "not_a_boolean"
    NOT_AN_OBJECT = "not_an_object"
    DUPLICATE_EVENT = "duplicate_event"
    INSERT_ID_KEY_MISSING = "insert_id_key_missing"
    DAILY_QUOTA = "daily_quota"
    OLD_USER_PROPERTIES = "old_user_properties"
    TIME_MISSING = "time_missing"
    DUPLICATE_INDEX = "duplicate_index"
    # Identify and Group Identify (identify-api.md).
    ADD_NOT_A_NUMBER = "add_not_a_number"
    LIST_OPERATION_OBJECT = "list_operation_object"
    DUPLICATE_ID = "duplicate_id"
    UPDATES_PER_HOUR = "updates_per_hour"
    FIELD_GROUP_RESET = "field_group_reset"
    GROUP_MISSING = "group_missing"
    TOO_MANY_PROPERTIES = "too_many_properties"

    def __str__(self) -> str:
        return self.value


class Origin(str, Enum):
    """Which check raises a reason (and so which tests can produce it)."""

    COLUMNS = "column rules"  # _validation._Validator: each row's mapped cells (identify's too)
    DUPLICATES = "duplicate check"  # _duplicates: rows that repeat an earlier row's event
    INDEX = "index check"  # the frame's index labels: pandas' rule, not Amplitude's
    PREFLIGHT = "pre-flight"  # _preflight: what the upload as a whole will meet
    KEY_IDS = "key ids"  # _key_ids: the client's own rule for insert_id=key(...)
    IDENTIFY = "identify validation"  # _identify_validation: Identify's own rules

    @property
    def reaches_events_api(self) -> bool:
        """Whether a row this check flags can reach the events endpoint (HTTP V2, Batch) with
        ``on_invalid="send"``, so the sandbox judges the same row. A key(...) row without a
        value has no insert_id and is never sent; Identify rows go to another endpoint."""
        return self not in (Origin.KEY_IDS, Origin.IDENTIFY)


# The catalogue's numbers, named in templates ("{max_string:,} characters").
LIMITS: Mapping[str, int] = {
    "max_string": MAX_STRING_LENGTH,
    "max_depth": MAX_NESTING_DEPTH,
    "max_group_types": MAX_GROUP_TYPES,
    "max_group_values": MAX_GROUP_VALUES,
}
_FORMATTER = string.Formatter()


@functools.cache
def _field_names(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in _FORMATTER.parse(template) if name)


@dataclass(frozen=True)
class Rule:
    """One rule: its code, how bad breaking it is, where the reference says so, which
    check raises it, and its messages (``case`` -> template; ``""`` is the usual one)."""

    reason: Reason
    severity: Severity
    reference: str
    rule: str
    origin: Origin = Origin.COLUMNS
    messages: Mapping[str, str] = field(default_factory=dict)
    severities: Mapping[str, Severity] = field(default_factory=dict)  # cases that change it

    def fields(self, case: str = "") -> frozenset[str]:
        """The names a case's template needs from the check (``LIMITS`` aside)."""
        return _field_names(self.messages[case]) - set(LIMITS)

    def message(self, case: str = "", /, **fields: object) -> str:
        """The message of ``case`` with ``fields`` filled in; a field too many or too few
        is a KeyError (a check and its template out of step)."""
        template = self._template(case, fields.keys())
        return template.format(**LIMITS, **fields) if fields or "{" in template else template

    def filler(
        self, case: str, name: str, convert: Callable[[Any], object] | None = None, /, **fields: object
    ) -> Callable[[Any], str]:
        """``message(case, **{name: convert(value)}, **fields)`` as a function of ``value``:
        the names are checked once, so a check with a message per failing cell pays one
        call a cell (and the ``convert``)."""
        fill = functools.partial(self._template(case, {name, *fields}).format, **LIMITS, **fields)
        if convert is None:
            return lambda value: fill(**{name: value})
        return lambda value: fill(**{name: convert(value)})

    def _template(self, case: str, names: Iterable[str]) -> str:
        template = self.messages[case]
        unknown = set(names) - _field_names(template)
        if unknown:
            raise KeyError(f"{self.reason.value}[{case!r}] has no field(s) {sorted(unknown)}")
        return template

    def severity_of(self, case: str = "") -> Severity:
        """The severity of a case: the rule's, unless the case changes it."""
        return self.severities.get(case, self.severity)


_E, _W = Severity.ERROR, Severity.WARNING
_KEYS, _GENERAL = "Event keys", "General rules"
_IDENTIFY, _OPS, _GROUP = (
    "identify-api.md, Identify", "identify-api.md, User property operations", "identify-api.md, Group Identify",
)
_LONG_STRING = "{path} is {n:,} characters long; Amplitude allows at most {max_string:,} per string value: shorten it"
_PLAN_TAKES = "Amplitude's tracking plan takes only branch, source and version"
_SHORT_ID = "{key} has {n} characters, fewer than min_id_length={min}: Amplitude removes it and "
_NO_ID = "every {noun} needs at least one"
_NOT_NUMBER = (" (text, a boolean, inf, ...) and would be left out of the event: convert the column with "
               "pd.to_numeric, or clear the value")
_ISO_TIMES = "{ref} = amp_notebook.iso_times({ref}"
_NOT_ISO = "time {value!r} is not ISO 8601"
_GROUPS = " per event and silently drops the rest: "
_EARLY = "time is {when}, before 2000-01-01: "
_DUPLICATE = "same insert_id as row {row!r}"


def _rule(reason: Reason, severity: Severity, reference: str, rule: str, message: str | Mapping[str, str],
          origin: Origin = Origin.COLUMNS, severities: Mapping[str, Severity] | None = None) -> Rule:
    messages = {"": message} if isinstance(message, str) else message
    return Rule(reason, severity, reference, rule, origin, messages, severities or {})


_COLUMNS, _DUPLICATES, _INDEX, _PREFLIGHT, _KEY_IDS, _IDENTIFY_CHECK = Origin

# The catalogue (data): one entry per reason.
RULES: dict[Reason, Rule] = {
    r.reason: r
    for r in (
        _rule(Reason.EVENT_TYPE_MISSING, _E, _KEYS, "every event needs an event_type", {
            "": "event_type is missing or blank: every event needs one; fill the cell, or map "
                "event_type=const('Name') for a single event name",
            "unmapped": "no event_type is mapped: every event needs one; map a column "
                        "(mapping={{'event_type': 'col'}}) or a constant (event_type=const('Name'))",
        }),
        _rule(Reason.EVENT_TYPE_RESERVED, _E, _KEYS, "reserved event types are not allowed",
              "event_type {value!r} is reserved by Amplitude and refused: rename the event"),
        _rule(Reason.EVENT_TYPE_FORMERLY_RESERVED, _W, _KEYS,
              "session_start, session_end, revenue_amount: reserved only in older docs",
              "event_type {value!r} was reserved in older Amplitude docs; today only the '[Amplitude] ...' "
              "names are, so it is sent and accepted (GA4/Firebase exports use it); rename it if it must "
              "not look like Amplitude's own session or revenue events"),
        # {hint}: "" or the "index" case, when an id sits in the frame's index.
        _rule(Reason.ID_MISSING, _E, _KEYS, "every event needs a user_id or a device_id", {
            "": "neither user_id nor device_id is set: " + _NO_ID + "; fill one, or drop the row{hint}",
            "unmapped": "no user_id or device_id column is mapped: " + _NO_ID
                        + "; map one (mapping={{'user_id': 'col'}}){hint}",
            "index": "; the index {name!r} looks like an id: df.reset_index() makes it a column again",
        }),
        # An ERROR when removing the id leaves the event with no usable id; a WARNING when the
        # other id keeps it. Identify sends no options: its min_id_length cannot change.
        _rule(Reason.ID_TOO_SHORT, _E, _KEYS, "ids shorter than min_id_length are removed", {
            "": _SHORT_ID + "the {noun} is left with no id; use a longer id or pass a smaller min_id_length",
            "kept": _SHORT_ID + "keeps the {noun} under its {other}; use a longer id or pass a smaller "
                                "min_id_length",
            "identify": _SHORT_ID + "the {noun} is left with no id; use a longer id (Identify takes no "
                                    "min_id_length option)",
            "identify kept": _SHORT_ID + "keeps the {noun} under its {other}; use a longer id (Identify "
                                         "takes no min_id_length option)",
        }, severities={"kept": _W, "identify kept": _W}),
        _rule(Reason.ID_INVALID, _E, _GENERAL, "ids on the invalid list are refused (400)",
              "{key} is on Amplitude's list of invalid ids (null, none, unknown, 0, -1, ... compared "
              "case-insensitively) and the request is refused: use a real id or clear the cell"),
        _rule(Reason.DEVICE_ID_ALL_ZERO, _E, _KEYS, "an all-zero device_id is dropped with an error",
              "device_id is all zeros (e.g. an iOS Limit Ad Tracking IDFA): Amplitude drops the {noun} with "
              "an error; clear the cell (Amplitude derives a device id from user_id) or use a real id"),
        # The cases other than "negative" are _time_text.advice's: what to do about the text found.
        _rule(Reason.TIME_INVALID, _E, _KEYS, "time is an integer in ms since the epoch (not before it)", {
            "negative": "time is {when}, before 1970-01-01 (negative ms since the epoch): Amplitude refuses "
                        "it; fix the value (seconds or a wrong time_unit?)",
            "not text": "time cannot be read as a point in time: Amplitude needs ms since the epoch; use "
                        "datetimes, ISO 8601 text or numbers (with time_unit=), or clear the value",
            "number": "time {value!r} is a number written as text: {ref} = pd.to_numeric({ref}) (and "
                      "time_unit='s' if it counts seconds)",
            "either": _NOT_ISO + " and could be {day_first} or {month_first}: say which: " + _ISO_TIMES
                      + ", dayfirst=True) for {day_first}, or amp_notebook.iso_times({ref}, format={format!r}) "
                        "for {month_first} (CLI: --dayfirst or --time-format {format!r})",
            "either, no format": _NOT_ISO + " and could be {day_first} or {month_first}: say which: "
                                 + _ISO_TIMES + ", dayfirst=True) for {day_first} (CLI: --dayfirst or "
                                                "--time-format 'FORMAT')",
            "day first": _NOT_ISO + " and reads day first: " + _ISO_TIMES + ", dayfirst=True) (CLI: --dayfirst)",
            "month first": _NOT_ISO + ": " + _ISO_TIMES + ") reads it, month first (CLI: --time-format {format!r})",
            "readable": _NOT_ISO + ": " + _ISO_TIMES + ") reads it (or give its exact format=...; CLI: "
                                                       "--time-format FORMAT)",
            "unreadable": "time {value!r} cannot be read as a time: fix the value or clear it (Amplitude "
                          "needs ms since the epoch; ISO 8601 text, datetimes and numbers are read)",
        }),
        # "seconds": a numeric column read as ms; "early": anything else (text, datetimes, a unit given).
        _rule(Reason.TIME_SUSPICIOUS, _W, _KEYS, "time far from now: probably a unit mix-up", {
            "seconds": _EARLY + "probably seconds read as milliseconds: pass time_unit='s'",
            "early": _EARLY + "check the value (a typo, or the wrong time_unit?)",
            "late": "time is {when}, more than a day after now: microseconds or nanoseconds read as "
                    "milliseconds (pass time_unit='us' or 'ns'), or a wrong clock",
        }),
        # "more": a value holding several too-long strings (the first one is named).
        _rule(Reason.STRING_TOO_LONG, _E, _GENERAL, "string values are at most 1024 characters", {
            "": _LONG_STRING,
            "more": _LONG_STRING + " ({more} more too-long strings in this value)",
        }),
        # "deeper": the walk stops one level past the limit, so the depth is a lower bound.
        _rule(Reason.NESTING_TOO_DEEP, _E, _KEYS, "property objects nest at most 40 levels", {
            "": "{key} would nest {depth} levels deep through {path}; Amplitude allows at most {max_depth}: "
                "flatten the value",
            "deeper": "{key} would nest more than {depth} levels deep through {path}; Amplitude allows at "
                      "most {max_depth}: flatten the value",
        }),
        _rule(Reason.GROUPS_TOO_MANY, _W, _KEYS, "at most 5 group types / 10 values are tracked", {
            "types": "{path} brings this event to {n:,} group types; Amplitude tracks at most "
                     "{max_group_types} group types" + _GROUPS + "drop or merge group columns",
            "values": "{path} brings this event to {n:,} group values; Amplitude tracks at most "
                      "{max_group_values}" + _GROUPS + "send fewer values",
        }),
        _rule(Reason.REVENUE_INCOMPLETE, _W, _KEYS,
              "productId/revenueType need price+quantity or revenue to count as revenue",
              "{key} is set but the event has neither revenue nor both price and quantity: Amplitude accepts "
              "the event but records no revenue; map revenue, or price and quantity"),
        _rule(Reason.REVENUE_MISMATCH, _W, _KEYS, "with price, quantity and revenue, revenue = price x quantity",
              "revenue differs from price x quantity = {expected:g}; when all three are sent Amplitude takes "
              "revenue = price x quantity: send revenue alone, or fix it"),
        _rule(Reason.NOT_A_NUMBER, _E, _KEYS, "numeric keys take finite JSON numbers", {
            "": "{key} must be a number; this value is not a finite number" + _NOT_NUMBER,
            "integer": "{key} must be an integer; this value is not a finite number" + _NOT_NUMBER,
        }),
        _rule(Reason.NOT_AN_INTEGER, _E, _KEYS, "integer keys take whole numbers",
              "{key} must be a whole number (Amplitude types it integer); round or fix it"),
        _rule(Reason.INTEGER_OUT_OF_RANGE, _E, _KEYS,
              "integers (keys and property values) fit a signed 64-bit long",
              "{path} is an integer outside the signed 64-bit range (-2**63 .. 2**63-1) that Amplitude reads "
              "numbers in: it would lose digits or be refused; fix the value, or send an id-like number as "
              "text (.astype(str))"),
        _rule(Reason.LAT_OUT_OF_RANGE, _E, _KEYS, "location_lat is in [-90, 90]",
              "location_lat is outside [-90, 90] degrees: check it is a latitude (not swapped with "
              "location_lng) in degrees"),
        _rule(Reason.LNG_OUT_OF_RANGE, _E, _KEYS, "location_lng is in [-180, 180]",
              "location_lng is outside [-180, 180] degrees: check it is a longitude in degrees"),
        _rule(Reason.SESSION_ID_INVALID, _E, _KEYS, "session_id is ms since the epoch, or -1",
              "session_id is negative: use the session start in ms since the epoch, or -1 for 'no session'"),
        # "": a column mapped as plan.<name>; "fields": a column of whole plan dicts.
        _rule(Reason.PLAN_INVALID, _E, _KEYS, "plan holds only branch, source, version strings", {
            "": "plan has no field {name!r}: " + _PLAN_TAKES + "; map this column somewhere else",
            "fields": "plan has the field(s) {fields}: " + _PLAN_TAKES,
        }),
        _rule(Reason.NOT_A_BOOLEAN, _E, _KEYS, "$skip_user_properties_sync is a boolean",
              "{key} must be a boolean (True or False), not another type: convert the column with "
              ".astype(bool) after fixing or clearing other values"),
        _rule(Reason.NOT_AN_OBJECT, _E, _KEYS, "a whole properties/groups/plan value is an object",
              "{key} is mapped to this whole column, so each cell must be a dict; this one is not and would "
              "be left out (a JSON string? parse it with json.loads first)"),
        # By the row's insert_id: its own ("own"), a constant, one made by key(...), or one made
        # from the row's content (no insert_id mapped).
        _rule(Reason.DUPLICATE_EVENT, _W, _KEYS,
              "events with the same insert_id (and device/user): Amplitude keeps one", {
                  "own": _DUPLICATE + " for the same device/user: Amplitude keeps only the first of them",
                  "constant": _DUPLICATE + " (a constant): Amplitude keeps one event per device/user",
                  "key": "same {key!r} values as row {row!r} for the same device/user: one insert_id, "
                         "Amplitude keeps only the first of them",
                  "content": "same event as row {row!r} (every mapped value equal): both get the same "
                             "insert_id and Amplitude keeps one; map an insert_id column if both really happened",
              }, origin=_DUPLICATES),
        # Not Amplitude's rule but the key's (key(...), _key_ids): no value, no insert_id.
        _rule(Reason.INSERT_ID_KEY_MISSING, _E, _KEYS,
              "an insert_id made by key(...) needs a value in each key column",
              "no value in {name!r}, a column of insert_id={key!r}: the row cannot get its insert_id and is "
              "not sent; fill it", origin=_KEY_IDS),
        # Backfill pre-flight (_preflight): warnings about what the upload as a whole will meet.
        _rule(Reason.DAILY_QUOTA, _W, "Limits", "at most 500,000 events per device/user in a rolling 24 hours",
              "{key} {id!r} has {count:,} events here: Amplitude takes at most {quota:,} per {noun} in a "
              "rolling 24 hours, so the {late:,} after the {quota:,}th (events from {first} to {last} UTC) "
              "would be refused (exceeded daily quota): send them at least 24 hours after the first ones",
              origin=_PREFLIGHT),
        _rule(Reason.OLD_USER_PROPERTIES, _W, _KEYS,
              "old events setting user_properties overwrite live values unless $skip_user_properties_sync",
              "an event older than {age} sets user_properties: Amplitude applies them to the user's profile "
              "as it is now, overwriting newer values; map '$skip_user_properties_sync': const(True) to keep "
              "them on the event only", origin=_PREFLIGHT),
        # The option missing_time= picks the case: "error" (the default: a backfill would land
        # at "now"), or "upload_time" (the upload time is wanted: a WARNING).
        _rule(Reason.TIME_MISSING, _E, _KEYS, "time mapped but empty: the server would use the upload time", {
            "error": "time is empty: sent without it, Amplitude would date the event at the upload time, "
                     "not when it happened; fill the cell or drop the row, or pass "
                     "missing_time='upload_time' to send it with the upload time on purpose",
            "upload_time": "time is empty: the event is sent without it and Amplitude dates it at the "
                           "upload time (missing_time='upload_time')",
        }, severities={"upload_time": _W}),
        # Not Amplitude's rule but pandas': labels that repeat make df.loc pick several rows.
        _rule(Reason.DUPLICATE_INDEX, _W, _KEYS, "index labels repeat: select rows by position",
              "this row's index label is also the label of position {position}: df.loc[...] with it picks "
              "both rows; select by position (result.to_resend(), df.iloc), or give the frame unique labels "
              "(pd.concat(..., ignore_index=True), df.reset_index(drop=True))", origin=_INDEX),
        _rule(Reason.ADD_NOT_A_NUMBER, _E, _OPS, "$add adds a number",
              "{name} is sent with add, which adds a number; this value is not one (text, a boolean, inf, "
              "...): convert the column with pd.to_numeric, or send it with set", origin=_IDENTIFY_CHECK),
        _rule(Reason.LIST_OPERATION_OBJECT, _E, _OPS,
              "append/prepend/preInsert/postInsert/remove take a value or a list",
              "{name} is sent with {op}, which takes a value or a list of values, not an object: send it "
              "with set, or give a list", origin=_IDENTIFY_CHECK),
        _rule(Reason.DUPLICATE_ID, _W, _IDENTIFY, "two rows for one user (or group): sent in order, the later wins",
              "the same {noun} as row {row!r}: both are sent, in frame order, so this later row's values "
              "win (an add, append or prepend applies both)", origin=_IDENTIFY_CHECK),
        _rule(Reason.UPDATES_PER_HOUR, _W, _IDENTIFY, "Amplitude drops a user's updates beyond 1800 per hour",
              "this user has more than {limit:,} rows: Amplitude drops a user's property updates beyond "
              "{limit:,} per hour, so this one may be dropped; merge the user's rows", origin=_IDENTIFY_CHECK),
        _rule(Reason.FIELD_GROUP_RESET, _W, _IDENTIFY, "setting one location (device) field resets the others",
              "{given} without {missing}: Amplitude sets the {what} fields together, so this resets "
              "{missing} to nothing; map them too, or fill them", origin=_IDENTIFY_CHECK),
        # "": a mapped id column with an empty cell; "unmapped": no column given.
        _rule(Reason.GROUP_MISSING, _E, _GROUP, "a group identify needs group_type and group_value", {
            "": "{key} is missing or blank: every group identify needs one; fill the cell or drop the row",
            "unmapped": "no {key} is given: every group identify needs a group type and a group value",
        }, origin=_IDENTIFY_CHECK),
        _rule(Reason.TOO_MANY_PROPERTIES, _E, _GROUP, "at most 1024 group properties per request",
              "{n:,} group properties per row: Group Identify takes at most {limit:,} per request; send "
              "fewer columns at a time", origin=_IDENTIFY_CHECK),
    )
}
