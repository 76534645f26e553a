"""interpret(): one test per row of the reference's "Responses" table, then malformed bodies.

Bodies are modelled on the examples of Amplitude's HTTP V2 reference
(shared/reference/amplitude-api.md, "Responses").
"""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError, dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amp_notebook import RetryPolicy
from amp_notebook._responses import Outcome, interpret, parse_retry_after


@dataclass
class FakeBatch:
    partitions: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.partitions)


def batch(n: int, devices: dict[int, str] | None = None) -> FakeBatch:
    parts = [f"device-{i:03d}" for i in range(n)]
    for i, key in (devices or {}).items():
        parts[i] = key
    return FakeBatch(parts)


def body(doc: object) -> bytes:
    return json.dumps(doc).encode()


def covered(out: Outcome, n: int) -> None:
    """Every index in exactly one of ingested / rejected / failed / resend."""
    groups = [
        list(out.ingested),
        [r.index for r in out.rejected],
        [r.index for r in out.failed],
        list(out.resend),
    ]
    flat = [i for g in groups for i in g]
    assert sorted(flat) == list(range(n)), groups
    assert set(out.throttled) <= set(out.resend)


# -- 200 -----------------------------------------------------------------------


def test_200_all_ingested() -> None:
    doc = {"code": 200, "events_ingested": 5, "payload_size_bytes": 50, "server_upload_time": 1396381378123}
    out = interpret(200, body(doc), {}, batch(5))
    assert out.kind == "ok"
    assert out.ingested == (0, 1, 2, 3, 4)
    assert out.final_indexes() == (0, 1, 2, 3, 4)
    assert out.resend == ()
    assert out.rejected == ()
    assert out.failed == ()
    assert out.done


@pytest.mark.parametrize("raw", [b"", b"success", b"<html>ok</html>", b"[1,2]", b'{"events_ingested": 3}', None])
def test_200_without_json_or_code_is_still_accepted(raw: bytes | None) -> None:
    out = interpret(200, raw, {}, batch(3))
    assert out.kind == "ok"
    assert out.ingested == (0, 1, 2)


# -- 400 with event lists ------------------------------------------------------


def test_400_invalid_and_missing_fields_reject_listed_events_resend_rest() -> None:
    doc = {
        "code": 400,
        "error": "Request missing required field",
        "events_with_invalid_fields": {"time": [3, 4, 7]},
        "events_with_missing_fields": {"event_type": [3, 4, 7]},
    }
    out = interpret(400, body(doc), {}, batch(10))
    assert out.kind == "partial"
    assert [r.index for r in out.rejected] == [3, 4, 7]
    assert out.resend == (0, 1, 2, 5, 6, 8, 9)
    r = out.rejected[0]
    # One Rejection per event even when listed under two fields; both fields named.
    assert r.field == "time"
    assert r.fields == ("time", "event_type")
    assert r.reason == "server_invalid_field"
    assert "time" in r.message
    assert "event_type" in r.message
    covered(out, 10)


def test_400_missing_field_only() -> None:
    doc = {"code": 400, "error": "Request missing required field", "events_with_missing_fields": {"event_type": [0]}}
    out = interpret(400, body(doc), {}, batch(2))
    assert out.kind == "partial"
    assert out.rejected[0].index == 0
    assert out.rejected[0].reason == "server_missing_field"
    assert out.rejected[0].field == "event_type"
    assert out.resend == (1,)


def test_400_invalid_id_lengths() -> None:
    doc = {
        "code": 400,
        "error": "Invalid id length for user_id or device_id",
        "events_with_invalid_id_lengths": {"user_id": [1], "device_id": [2]},
    }
    out = interpret(400, body(doc), {}, batch(3))
    assert {(r.index, r.field, r.reason) for r in out.rejected} == {
        (1, "user_id", "server_invalid_id_length"),
        (2, "device_id", "server_invalid_id_length"),
    }
    assert out.resend == (0,)


# -- 400 silenced --------------------------------------------------------------


def test_400_silenced_devices() -> None:
    doc = {
        "code": 400,
        "error": "Some devices have been silenced",
        "eps_threshold": 10,
        "exceeded_daily_quota_devices": {"silenced-device": 500000},
        "silenced_devices": ["silenced-device"],
        "silenced_events": [1, 3],
        "throttled_devices": {"hot-device": 11},
        "throttled_events": [4],
    }
    b = batch(6, {1: "silenced-device", 3: "silenced-device", 4: "hot-device", 5: "silenced-device"})
    out = interpret(400, body(doc), {}, b, policy=RetryPolicy(throttle_pause_s=30))
    assert [(r.index, r.reason) for r in out.rejected] == [(1, "device_silenced"), (3, "device_silenced")]
    # Event 5: same device, not listed as silenced but over the daily quota: not worth resending.
    assert [(r.index, r.reason) for r in out.failed] == [(5, "daily_quota_exceeded")]
    assert out.resend == (0, 2, 4)
    assert out.pause["hot-device"] == 30
    assert out.throttled == (4,)
    covered(out, 6)


def test_400_silenced_example_with_same_indexes_throttled() -> None:
    # The reference's example lists the same indexes as silenced and throttled:
    # a silenced event is final, never also waiting for a pause.
    doc = {
        "code": 400,
        "error": "Some devices have been silenced",
        "eps_threshold": 10,
        "silenced_devices": ["silenced_device_id"],
        "silenced_events": [3, 4, 7],
        "throttled_devices": {"throttled_device_id": 11},
        "throttled_events": [3, 4, 7],
    }
    b = batch(8, {3: "silenced_device_id", 4: "silenced_device_id", 7: "silenced_device_id"})
    out = interpret(400, body(doc), {}, b)
    assert [r.index for r in out.rejected] == [3, 4, 7]
    assert out.throttled == ()
    assert out.resend == (0, 1, 2, 5, 6)
    covered(out, 8)


# -- 400 request level ---------------------------------------------------------


def test_400_invalid_json_is_fatal() -> None:
    out = interpret(400, body({"code": 400, "error": "Invalid JSON request body"}), {}, batch(3))
    assert out.kind == "fatal"
    assert out.error == "Invalid JSON request body"
    assert out.code == 400
    assert not out.invalid_api_key
    assert [r.index for r in out.failed] == [0, 1, 2]
    assert {r.reason for r in out.failed} == {"request_rejected"}
    assert out.resend == ()


def test_400_missing_request_field_is_fatal() -> None:
    doc = {"code": 400, "error": "Request missing required field", "missing_field": "api_key"}
    out = interpret(400, body(doc), {}, batch(2))
    assert out.kind == "fatal"
    assert out.missing_field == "api_key"
    assert not out.invalid_api_key


def test_400_invalid_api_key_is_fatal_and_never_echoes_the_key() -> None:
    secret = "0123456789abcdef0123456789abcdef"
    out = interpret(400, body({"code": 400, "error": f"Invalid API key: {secret}"}), {}, batch(2))
    assert out.kind == "fatal"
    assert out.invalid_api_key
    assert {r.reason for r in out.failed} == {"invalid_api_key"}
    assert secret not in repr(out)


def test_400_non_json_body_is_fatal() -> None:
    out = interpret(400, b"<html>Bad Request</html>", {}, batch(2))
    assert out.kind == "fatal"
    assert out.error is not None
    assert "<html>" not in out.error


# -- 413 -----------------------------------------------------------------------


def test_413_splits() -> None:
    out = interpret(413, body({"code": 413, "error": "Payload too large"}), {}, batch(8))
    assert out.kind == "split"
    assert out.resend == tuple(range(8))
    covered(out, 8)


def test_413_single_event_is_rejected() -> None:
    out = interpret(413, body({"code": 413, "error": "Payload too large"}), {}, batch(1))
    assert out.resend == ()
    assert [(r.index, r.reason) for r in out.rejected] == [(0, "payload_too_large")]


# -- 429 -----------------------------------------------------------------------


def test_429_pauses_throttled_devices_and_users_resends_the_rest() -> None:
    doc = {
        "code": 429,
        "error": "Too many requests for some devices and users",
        "eps_threshold": 10,
        "throttled_devices": {"C8F9E604-F01A-4BD9-95C6-8E5357DF265D": 11},
        "throttled_users": {"datamonster@amplitude.com": 12},
        "throttled_events": [0, 2],
    }
    b = batch(4, {0: "C8F9E604-F01A-4BD9-95C6-8E5357DF265D", 2: "user:datamonster@amplitude.com"})
    out = interpret(429, body(doc), {}, b, policy=RetryPolicy(throttle_pause_s=30))
    assert out.kind == "throttled"
    assert dict(out.pause) == {
        "C8F9E604-F01A-4BD9-95C6-8E5357DF265D": 30,
        "user:datamonster@amplitude.com": 30,
    }
    assert out.resend == (0, 1, 2, 3)
    assert out.throttled == (0, 2)
    assert out.retry_after is None  # the others go now
    covered(out, 4)


def test_429_throttled_events_pause_their_partition() -> None:
    # A throttled user whose events carry a device_id: the index names the event.
    doc = {"code": 429, "throttled_users": {"someone": 40}, "throttled_events": [1]}
    out = interpret(429, body(doc), {}, batch(3))
    assert out.throttled == (1,)
    assert "device-001" in out.pause


def test_429_daily_quota_devices_fail() -> None:
    doc = {
        "code": 429,
        "throttled_devices": {"hot": 40},
        "exceeded_daily_quota_devices": {"spent": 600000},
        "throttled_events": [0],
    }
    out = interpret(429, body(doc), {}, batch(4, {0: "hot", 1: "spent", 3: "spent"}))
    assert out.kind == "partial"
    assert [(r.index, r.reason) for r in out.failed] == [(1, "daily_quota_exceeded"), (3, "daily_quota_exceeded")]
    assert out.resend == (0, 2)
    assert out.throttled == (0,)
    covered(out, 4)


def test_429_naming_nobody_retries_everything() -> None:
    out = interpret(429, body({"code": 429, "error": "Too many requests"}), {"Retry-After": "7"}, batch(3))
    assert out.kind == "retry"
    assert out.resend == (0, 1, 2)
    assert out.retry_after == 7.0


def test_429_retry_after_lengthens_pauses_up_to_max_s() -> None:
    doc = {"code": 429, "throttled_devices": {"device-000": 40}}
    policy = RetryPolicy(throttle_pause_s=30, max_s=60)
    out = interpret(429, body(doc), {"retry-after": "45"}, batch(2), policy=policy)
    assert out.pause["device-000"] == 45
    out = interpret(429, body(doc), {"retry-after": "4500"}, batch(2), policy=policy)
    assert out.pause["device-000"] == 60
    out = interpret(429, body(doc), {"retry-after": "5"}, batch(2), policy=policy)
    assert out.pause["device-000"] == 30


# -- 5xx and network errors ----------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 507, None])
def test_server_errors_and_no_answer_retry_everything(status: int | None) -> None:
    out = interpret(status, b"", {}, batch(4))
    assert out.kind == "retry"
    assert out.resend == (0, 1, 2, 3)
    assert out.final_indexes() == ()


def test_503_retry_after_seconds() -> None:
    out = interpret(503, b"Service Unavailable", {"Retry-After": "120"}, batch(1))
    assert out.kind == "retry"
    assert out.retry_after == 120.0


@pytest.mark.parametrize("status", [401, 403, 404, 405, 409, 418])
def test_other_4xx_are_fatal(status: int) -> None:
    out = interpret(status, b"nope", {}, batch(2))
    assert out.kind == "fatal"
    assert out.error == f"HTTP {status}"
    assert [r.index for r in out.failed] == [0, 1]


# -- Retry-After parsing ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-1", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),  # HTTP-date: ignored by design
        ("inf", None),
        ("nan", None),
        ("", None),
    ],
)
def test_parse_retry_after(value: str, expected: float | None) -> None:
    assert parse_retry_after({"Retry-After": value}) == expected


def test_outcome_is_immutable() -> None:
    out = interpret(200, b"", {}, batch(1))
    with pytest.raises(FrozenInstanceError):
        out.kind = "fatal"  # type: ignore[misc]
    throttled = interpret(429, body({"throttled_devices": {"device-000": 1}}), {}, batch(1))
    with pytest.raises(TypeError):
        throttled.pause["x"] = 1.0  # type: ignore[index]


# -- malformed bodies ----------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[3, 4]",
        b"null",
        b'"string"',
        body({"events_with_invalid_fields": {"time": [99, -1, "2", 1.0, True, None]}}),
        body({"events_with_invalid_fields": [1, 2]}),
        body({"events_with_invalid_fields": {"time": 3}}),
        body({"silenced_events": {"a": 1}}),
        b"\xff\xfe",
    ],
)
def test_malformed_400_bodies_do_not_crash_and_keep_every_event(raw: bytes) -> None:
    out = interpret(400, raw, {}, batch(3))
    assert out.kind == "fatal"  # no usable event index: a request-level error
    covered(out, 3)


def test_bad_indexes_are_ignored_but_good_ones_used() -> None:
    doc = {"events_with_invalid_fields": {"time": [1, 1, 99, -1, "0", 2.0, True]}}
    out = interpret(400, body(doc), {}, batch(3))
    assert [r.index for r in out.rejected] == [1]
    assert out.resend == (0, 2)


_index = st.one_of(
    st.integers(-3, 12), st.text(max_size=2), st.floats(allow_nan=True), st.booleans(), st.none()
)
_indexes = st.one_of(st.lists(_index, max_size=8), _index, st.dictionaries(st.text(max_size=3), _index, max_size=2))
_names = st.sampled_from(["d0", "d1", "d2", "someone", "user:u1", "u1", ""])
_name_map = st.one_of(
    st.dictionaries(_names, st.integers(0, 100), max_size=3), st.lists(_names, max_size=3), _index
)
_field_map = st.one_of(st.dictionaries(st.sampled_from(["time", "event_type", "user_id"]), _indexes, max_size=3), _indexes)
_doc = st.fixed_dictionaries(
    {},
    optional={
        "code": st.one_of(st.integers(), st.text(max_size=3), st.none()),
        "error": st.one_of(st.text(max_size=20), st.just("Invalid API key: abc"), st.integers()),
        "missing_field": st.one_of(st.text(max_size=5), st.none(), st.integers()),
        "events_with_invalid_fields": _field_map,
        "events_with_missing_fields": _field_map,
        "events_with_invalid_id_lengths": _field_map,
        "silenced_events": _indexes,
        "silenced_devices": _name_map,
        "throttled_events": _indexes,
        "throttled_devices": _name_map,
        "throttled_users": _name_map,
        "exceeded_daily_quota_devices": _name_map,
        "exceeded_daily_quota_users": _name_map,
    },
)
_raw = st.one_of(
    _doc.map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=20),
    st.none(),
    st.lists(st.integers()).map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=400, deadline=None)
@given(
    status=st.one_of(st.none(), st.sampled_from([200, 400, 408, 413, 429, 500, 503, 404]), st.integers(100, 599)),
    raw=_raw,
    parts=st.lists(st.sampled_from(["d0", "d1", "d2", "user:u1", "user:someone"]), max_size=10),
    retry_after=st.one_of(st.none(), st.text(max_size=5), st.integers(-5, 10**6).map(str)),
)
def test_every_index_ends_in_exactly_one_place(
    status: int | None, raw: bytes | None, parts: list[str], retry_after: str | None
) -> None:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    out = interpret(status, raw, headers, FakeBatch(parts), policy=RetryPolicy.fast())
    covered(out, len(parts))
    assert out.kind in {"ok", "partial", "split", "throttled", "retry", "fatal"}
    assert out.resend == tuple(sorted(out.resend))
    assert len({r.index for r in out.rejected}) == len(out.rejected)
    assert all(v >= 0 for v in out.pause.values())
    assert out.retry_after is None or out.retry_after >= 0
    if out.kind == "fatal":
        assert out.resend == ()
    if out.error is not None:
        assert "abc" not in out.error or not out.error.startswith("Invalid API key")
