"""The sandbox's /identify and /groupidentify, written from identify-api.md.

Bodies here are built with the standard library (``urllib.parse.urlencode``),
never with the client's encoder: the sandbox is the oracle the client is
checked against, so each is tested on its own.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_to_bytes, urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from amp_notebook.sandbox import (
    GROUP_IDENTIFY_PATH,
    IDENTIFY_PATH,
    Emulator,
    Sandbox,
    SandboxConfig,
    SandboxTransport,
)
from amp_notebook.sandbox._formdata import FormError, parse_form, unquote_plus_bytes

FORM = {"content-type": "application/x-www-form-urlencoded"}


def form(identification: Any, api_key: str = "key-123") -> bytes:
    return urlencode({"api_key": api_key, "identification": json.dumps(identification)}).encode()


class Api:
    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.emu = Emulator(config)
        self.client = httpx.Client(transport=SandboxTransport(self.emu, clock=lambda: self.now), base_url="https://api2.amplitude.com")
        self.now = 1_000_000.0

    def identify(self, *objs: dict[str, Any], path: str = IDENTIFY_PATH, **kw: Any) -> httpx.Response:
        return self.client.post(path, content=form(list(objs), **kw), headers=FORM)

    def group(self, *objs: dict[str, Any]) -> httpx.Response:
        return self.identify(*objs, path=GROUP_IDENTIFY_PATH)

    def props(self, user: str) -> dict[str, Any] | None:
        out = self.emu.user_properties(user)
        assert out is None or isinstance(out, dict)
        return out


@pytest.fixture
def api() -> Api:
    return Api()


def user(props: dict[str, Any], uid: str = "user-00001", **more: Any) -> dict[str, Any]:
    return {"user_id": uid, "user_properties": props, **more}


# -- form decoding -------------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_unquote_matches_the_standard_library(raw: bytes) -> None:
    encoded = urlencode({"x": raw}).encode()[2:]
    assert unquote_plus_bytes(encoded) == raw
    assert unquote_plus_bytes(encoded) == unquote_to_bytes(encoded.replace(b"+", b" "))


@pytest.mark.parametrize("bad", [b"%", b"a%4", b"%zz", b"%%41"])
def test_malformed_escapes_are_refused(bad: bytes) -> None:
    with pytest.raises(FormError):
        unquote_plus_bytes(bad)


def test_parse_form_fields() -> None:
    assert parse_form(b"api_key=a%20b&identification=%5B%5D&api_key=second") == {
        "api_key": b"a b", "identification": b"[]"}


# -- operations (identify-api.md, "User property operations") --------------------------------


def test_plain_properties_are_a_set(api: Api) -> None:
    assert api.identify(user({"plan": "pro", "seats": 3})).status_code == 200
    assert api.identify(user({"plan": "team"})).status_code == 200
    assert api.props("user-00001") == {"plan": "team", "seats": 3}


def test_set_and_set_once(api: Api) -> None:
    api.identify(user({"$set": {"plan": "pro"}, "$setOnce": {"first_seen": "2026-01-01"}}))
    api.identify(user({"$setOnce": {"first_seen": "2026-02-02", "plan": "free"}}))
    assert api.props("user-00001") == {"plan": "pro", "first_seen": "2026-01-01"}


def test_add_is_not_idempotent(api: Api) -> None:
    api.identify(user({"$add": {"logins": 3}}))  # no value yet: counts from 0
    api.identify(user({"$add": {"logins": 3}}))  # "sent twice, added twice"
    api.identify(user({"$add": {"logins": -1, "spend": 2.5}}))
    assert api.props("user-00001") == {"logins": 5, "spend": 2.5}


def test_append_prepend_and_their_insert_forms(api: Api) -> None:
    api.identify(user({"$set": {"tags": "a"}}))  # a single value becomes a one-item list
    api.identify(user({"$append": {"tags": ["b", "c"]}, "$prepend": {"older": "z"}}))
    api.identify(user({"$prepend": {"tags": ["x", "y"]}}))
    api.identify(user({"$postInsert": {"tags": ["c", "d"]}, "$preInsert": {"older": ["z", "w"]}}))
    assert api.props("user-00001") == {"tags": ["x", "y", "a", "b", "c", "d"], "older": ["w", "z"]}
    api.identify(user({"$append": {"tags": "a"}}))  # append adds again: not idempotent
    assert api.props("user-00001")["tags"][-1] == "a"  # type: ignore[index]


def test_remove_unset_and_clear_all(api: Api) -> None:
    api.identify(user({"$set": {"tags": ["a", "b", "a"], "plan": "pro", "x": 1}}))
    api.identify(user({"$remove": {"tags": "a"}, "$unset": {"plan": "-"}}))
    assert api.props("user-00001") == {"tags": ["b"], "x": 1}
    api.identify(user({"$clearAll": "-", "$set": {"fresh": True}}))
    assert api.props("user-00001") == {"fresh": True}


# -- rules (identify-api.md, the identification object and "Limits and behaviour") ------------


@pytest.mark.parametrize(
    ("obj", "problem"),
    [
        ({"user_properties": {"$set": {"a": 1}}}, "needs a user_id or a device_id"),
        (user({"a": 1}, uid="null"), "not a valid id"),
        (user({"a": 1}, uid="abc"), "shorter than min_id_length"),
        (user({"$set": {"a": 1}, "b": 2}), "mixes operations and plain keys"),
        (user({"$increment": {"a": 1}}), "unknown operation"),
        (user({"$set": {"a": 1}, "$add": {"a": 2}}), "in more than one operation"),
        (user({"$add": {"a": "3"}}), "$add takes numbers"),
        (user({"$append": {"a": {"k": 1}}}), "takes a value or a list"),
        (user({"$set": {"a": "x" * 1025}}), "string over 1024"),
        (user({"$set": {"a": json.loads("[" * 40 + "]" * 40)}}), "nesting deeper than 40"),
        (user({"a": 1}, platform=7), "platform must be a string"),
        ("not an object", "not an object"),
    ],
)
def test_malformed_identification_refuses_the_request(api: Api, obj: Any, problem: str) -> None:
    good = user({"plan": "pro"}, uid="user-00002")
    r = api.identify(good, obj)
    assert r.status_code == 400
    assert r.json()["error"].startswith("missing_event: identification 1:")
    assert problem in r.json()["error"]
    assert api.props("user-00002") is None  # nothing of a refused request is applied


def test_a_short_id_is_removed_when_the_other_one_is_kept(api: Api) -> None:
    assert api.identify(user({"a": 1}, uid="abc", device_id="device-0001")).status_code == 200
    assert api.props("device-0001") == {"a": 1}


def test_request_level_refusals(api: Api) -> None:
    r = api.client.post(IDENTIFY_PATH, json={"api_key": "k", "identification": []})
    assert r.status_code == 400 and "form" in r.json()["error"]
    r = api.client.post(IDENTIFY_PATH, content=urlencode({"identification": "[]"}), headers=FORM)
    assert r.json() == {"code": 400, "error": "Request missing required field", "missing_field": "api_key"}
    for ident in ("[]", "nope", "3"):
        r = api.client.post(IDENTIFY_PATH, content=urlencode({"api_key": "k", "identification": ident}), headers=FORM)
        assert r.status_code == 400 and r.json()["error"] == "missing_event"
    locked = Api(SandboxConfig(api_keys={"right-key-1"}))
    r = locked.identify(user({"a": 1}), api_key="wrong-key-2")
    assert r.json()["error"] == "Invalid API key" and "wrong" not in r.text
    assert locked.identify(user({"a": 1}), api_key="right-key-1").status_code == 200


def test_single_object_is_accepted(api: Api) -> None:
    r = api.client.post(IDENTIFY_PATH, content=form(user({"a": 1})), headers=FORM)
    assert r.status_code == 200 and api.props("user-00001") == {"a": 1}


def test_limits_1024_objects_and_1_mb(api: Api) -> None:
    many = [user({"a": i}, uid=f"user-{i:05d}") for i in range(1025)]
    assert api.identify(*many).status_code == 413
    assert api.identify(*many[:1024]).status_code == 200
    big = [user({"note": "é" * 1000}, uid=f"user-{i:05d}") for i in range(200)]  # ~1.8 MB encoded
    assert len(form(big)) >= 1_000_000 and api.identify(*big).status_code == 413
    groups = [{"group_type": "company", "group_value": f"org-{i}", "group_properties": {f"p{j}": j for j in range(5)}}
              for i in range(205)]  # 1025 group properties in one request
    assert api.group(*groups).status_code == 413
    assert api.group(*groups[:204]).status_code == 200


def test_location_and_device_fields_reset_their_group(api: Api) -> None:
    api.identify(user({}, country="Germany", region="Berlin", city="Berlin", platform="iOS", os_name="ios"))
    api.identify(user({}, country="France", platform="Android"))
    props = api.props("user-00001")
    assert props == {"[Amplitude] country": "France", "[Amplitude] platform": "Android"}


def test_a_user_id_links_its_device(api: Api) -> None:
    api.identify({"device_id": "device-0001", "user_properties": {"anon": True}})
    api.identify(user({"plan": "pro"}, device_id="device-0001"))
    api.identify({"device_id": "device-0001", "user_properties": {"$add": {"visits": 1}}})
    assert api.props("user-00001") == {"anon": True, "plan": "pro", "visits": 1}
    frame = api.emu.user_properties()
    assert frame.to_dict("records") == [  # type: ignore[union-attr]
        {"user_id": "user-00001", "device_id": "device-0001", "anon": True, "plan": "pro", "visits": 1}
    ]


def test_updates_beyond_1800_per_user_per_hour_are_dropped() -> None:
    api = Api(SandboxConfig(identify_hourly_limit=5, device_eps=1000))
    for _ in range(7):
        assert api.identify(user({"$add": {"n": 1}})).status_code == 200
    assert api.props("user-00001") == {"n": 5}
    assert api.emu.counters["identify_dropped"] == 2
    api.now += 3600
    api.identify(user({"$add": {"n": 1}}))
    assert api.props("user-00001") == {"n": 6}


def test_429_names_throttled_users_and_applies_nothing() -> None:
    api = Api(SandboxConfig(device_eps=1, window_s=2, limit_mode="strict"))
    assert api.identify(user({"$add": {"n": 1}}), user({"$add": {"n": 1}})).status_code == 200
    r = api.identify(user({"$add": {"n": 1}}), user({"a": 1}, uid="user-00002"))
    assert r.status_code == 429
    doc = r.json()
    assert doc["throttled_users"] == {"user-00001": 2} and doc["throttled_events"] == [0]
    assert api.props("user-00001") == {"n": 2} and api.props("user-00002") is None
    api.now += 2.5
    assert api.identify(user({"$add": {"n": 1}})).status_code == 200


def test_group_identify(api: Api) -> None:
    a = {"group_type": "company", "group_value": "org-001", "group_properties": {"plan": "enterprise", "seats": 10}}
    b = {"group_type": "company", "group_value": "org-001", "group_properties": {"$add": {"seats": 5}, "$append": {"owners": "ann"}}}
    assert api.group(a, b).status_code == 200
    assert api.emu.group_properties("company", "org-001") == {"plan": "enterprise", "seats": 15, "owners": ["ann"]}
    bad = api.group({"group_type": "company", "group_properties": {"a": 1}})
    assert bad.status_code == 400 and "group_value" in bad.json()["error"]
    frame = api.emu.group_properties()
    assert frame.to_dict("records") == [  # type: ignore[union-attr]
        {"group_type": "company", "group_value": "org-001", "plan": "enterprise", "seats": 15, "owners": ["ann"]}
    ]


def test_faults_and_scripts_apply_to_identify(api: Api) -> None:
    api.emu.fail_next(1, 503)
    assert api.identify(user({"$add": {"n": 1}})).status_code == 503
    assert api.props("user-00001") is None  # a "before" fault applies nothing
    api.emu.enqueue(500, ingest=True)  # applied, then the answer is lost
    assert api.identify(user({"$add": {"n": 1}})).status_code == 500
    assert api.props("user-00001") == {"n": 1}
    api.emu.enqueue(429)
    r = api.identify(user({"a": 1}, uid="user-00009"))
    assert r.status_code == 429 and r.json()["throttled_users"] == {"user-00009": 31}


def test_real_server_serves_both_paths() -> None:
    with Sandbox() as sb:
        assert sb.identify_url.endswith("/identify") and sb.group_identify_url.endswith("/groupidentify")
        r = httpx.post(sb.identify_url, content=form([user({"plan": "pro"})]), headers=FORM)
        assert r.status_code == 200
        r = httpx.post(sb.group_identify_url, content=form([{"group_type": "t", "group_value": "v", "group_properties": {"x": 1}}]), headers=FORM)
        assert r.status_code == 200
        assert sb.user_properties("user-00001") == {"plan": "pro"}
        assert sb.group_properties("t", "v") == {"x": 1}
        assert [r.path for r in sb.emulator.requests] == [IDENTIFY_PATH, GROUP_IDENTIFY_PATH]
