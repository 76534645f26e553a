"""The sandbox answers as the reference (shared/reference/amplitude-api.md) says Amplitude does."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Any

import httpx
import orjson
import pytest

from amp_notebook.sandbox import (
    Emulator,
    Faults,
    Sandbox,
    SandboxConfig,
    SandboxTransport,
)

KEY = "test-key-0123456789abcdef"
NOW = 1_750_000_000.0  # a fixed "now" for the pure emulator (seconds)


def ev(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"event_type": "Purchase", "device_id": "device-00001"}
    base.update(kw)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()


def body(events: list[Any], key: str | None = KEY, **extra: Any) -> bytes:
    data: dict[str, Any] = {"events": events, **extra}
    if key is not None:
        data["api_key"] = key
    return orjson.dumps(data)


def post(emu: Emulator, events: list[Any], now: float = NOW, path: str = "/2/httpapi", **extra: Any):
    return emu.handle(path, body(events, **extra), {}, now)


# -- 200 ----------------------------------------------------------------------------------


def test_200_body_has_the_documented_fields() -> None:
    emu = Emulator()
    raw = body([ev(), ev(device_id="device-00002")])
    r = emu.handle("/2/httpapi", raw, {}, NOW)
    assert r.status == 200
    assert r.json() == {
        "code": 200,
        "events_ingested": 2,
        "payload_size_bytes": len(raw),
        "server_upload_time": int(NOW * 1000),
    }
    assert [e["device_id"] for e in emu.ingested] == ["device-00001", "device-00002"]
    assert emu.ingested_frame()["device_id"].tolist() == ["device-00001", "device-00002"]


def test_batch_endpoint_answers_like_http_v2() -> None:
    emu = Emulator()
    r = post(emu, [ev()], path="/batch")
    assert r.status == 200
    assert r.json()["events_ingested"] == 1


def test_unknown_path_is_400_invalid_request_path() -> None:
    r = Emulator().handle("/3/other", body([ev()]), {}, NOW)
    assert (r.status, r.json()["error"]) == (400, "Invalid request path")


# -- request-level 400 --------------------------------------------------------------------


def test_invalid_json_is_400() -> None:
    r = Emulator().handle("/2/httpapi", b'{"api_key": "k", "events": [', {}, NOW)
    assert r.status == 400
    assert r.json()["error"] == "Invalid JSON request body"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (orjson.dumps({"events": [ev()]}), "api_key"),
        (orjson.dumps({"api_key": "", "events": [ev()]}), "api_key"),
        (orjson.dumps({"api_key": KEY}), "events"),
        (orjson.dumps({"api_key": KEY, "events": []}), "events"),
    ],
)
def test_missing_request_field_is_400(raw: bytes, field: str) -> None:
    r = Emulator().handle("/2/httpapi", raw, {}, NOW)
    assert r.status == 400
    assert r.json()["missing_field"] == field


def test_unknown_api_key_is_400_and_never_echoed() -> None:
    emu = Emulator(SandboxConfig(api_keys=frozenset({KEY})))
    wrong = "wrong-key-must-not-leak"
    r = post(emu, [ev()], key=wrong)
    assert r.status == 400
    assert "Invalid API key" in r.json()["error"]
    assert wrong.encode() not in r.body
    assert post(emu, [ev()]).status == 200
    assert emu.ingested == [ev()]


# -- per-event 400 ------------------------------------------------------------------------

LONG = "x" * 1025


def nested(depth: int) -> dict[str, Any]:
    d: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        d = {"k": d}
    return d


@pytest.mark.parametrize(
    ("event", "table", "field"),
    [
        (ev(event_type=_DROP), "events_with_missing_fields", "event_type"),
        (ev(event_type=""), "events_with_missing_fields", "event_type"),
        (ev(event_type="[Amplitude] Revenue"), "events_with_invalid_fields", "event_type"),
        (ev(event_type="   "), "events_with_missing_fields", "event_type"),
        (ev(time=-1), "events_with_invalid_fields", "time"),
        (ev(device_id=_DROP), "events_with_missing_fields", "user_id"),
        (ev(device_id="abc"), "events_with_invalid_id_lengths", "device_id"),
        (ev(device_id="NULL"), "events_with_invalid_fields", "device_id"),
        (ev(user_id="Anonymous"), "events_with_invalid_fields", "user_id"),
        (ev(device_id="00000000-0000-0000-0000-000000000000"), "events_with_invalid_fields", "device_id"),
        (ev(device_id=12345678), "events_with_invalid_fields", "device_id"),
        (ev(time=1.7e12), "events_with_invalid_fields", "time"),
        (ev(time="2026-11-26T14:03:00"), "events_with_invalid_fields", "time"),
        (ev(event_type=LONG), "events_with_invalid_fields", "event_type"),
        (ev(platform=LONG), "events_with_invalid_fields", "platform"),
        (ev(event_properties={"a": LONG}), "events_with_invalid_fields", "event_properties"),
        (ev(event_properties={"a": [1, {"b": LONG}]}), "events_with_invalid_fields", "event_properties"),
        (ev(event_properties=nested(41)), "events_with_invalid_fields", "event_properties"),
        (ev(user_properties="plan=pro"), "events_with_invalid_fields", "user_properties"),
        (ev(price="9.99"), "events_with_invalid_fields", "price"),
        (ev(revenue=True), "events_with_invalid_fields", "revenue"),
        (ev(quantity=1.5), "events_with_invalid_fields", "quantity"),
        (ev(location_lat=90.5), "events_with_invalid_fields", "location_lat"),
        (ev(location_lng=-180.5), "events_with_invalid_fields", "location_lng"),
        (ev(session_id=1.5e12), "events_with_invalid_fields", "session_id"),
        (ev(session_id=-2), "events_with_invalid_fields", "session_id"),
        (ev(plan={"branch": "main", "owner": "me"}), "events_with_invalid_fields", "plan"),
        (ev(plan={"version": 15}), "events_with_invalid_fields", "plan"),
        (ev(**{"$skip_user_properties_sync": "yes"}), "events_with_invalid_fields", "$skip_user_properties_sync"),
        (ev(groups={"org": {"id": 1}}), "events_with_invalid_fields", "groups"),
    ],
)
def test_invalid_event_is_listed_by_field(event: Any, table: str, field: str) -> None:
    emu = Emulator()
    r = post(emu, [ev(device_id="device-ok-0"), event])
    assert r.status == 400
    out = r.json()
    assert out[table] == {field: [1]}
    # Reference, "Responses": the listed events are refused and the client resends the
    # rest, so nothing of this request is kept.
    assert emu.ingested == []


@pytest.mark.parametrize(
    "event",
    [
        ev(event_properties=nested(40)),
        ev(session_id=-1, time=1_750_000_000_000, price=-9.99, quantity=2, revenue=-19.98),
        ev(location_lat=-90, location_lng=180.0),
        ev(plan={"branch": "main", "source": "web", "version": "15"}),
        ev(user_id=None),  # null counts as absent
        ev(platform="x" * 1024, library="custom/1.0"),  # unknown keys are ignored
        ev(**{"$skip_user_properties_sync": True}, groups={"org": ["a", "b"], "team": 7}),
        # Reference, "Event keys": only older docs reserve these; today they are events.
        ev(event_type="session_start"),
        ev(event_type="revenue_amount"),
        # "Every string value" is limited: names are not values.
        ev(event_properties={"k" * 2000: 1}, groups={"t" * 2000: "a"}),
        ev(productId="sku-1"),  # no revenue counted, but a fine event
    ],
)
def test_valid_events_are_accepted(event: dict[str, Any]) -> None:
    assert post(Emulator(), [event]).status == 200


def test_short_id_is_removed_and_the_event_kept_when_another_id_remains() -> None:
    emu = Emulator()
    r = post(emu, [ev(device_id="abcd", user_id="user-12345")])
    assert r.status == 200
    assert emu.ingested == [{"event_type": "Purchase", "user_id": "user-12345"}]


def test_min_id_length_option_overrides_the_default() -> None:
    emu = Emulator()
    assert post(emu, [ev(device_id="ab")], options={"min_id_length": 2}).status == 200
    assert emu.ingested[0]["device_id"] == "ab"


def test_invalid_id_list_applies_even_with_a_low_min_id_length() -> None:
    r = post(Emulator(), [ev(device_id="na")], options={"min_id_length": 1})
    assert r.json()["events_with_invalid_fields"] == {"device_id": [0]}


def test_groups_beyond_five_types_are_not_tracked() -> None:
    emu = Emulator()
    groups = {f"type{i}": f"value{i}" for i in range(7)}
    assert post(emu, [ev(groups=groups)]).status == 200
    assert list(emu.ingested[0]["groups"]) == [f"type{i}" for i in range(5)]


# -- 413 ----------------------------------------------------------------------------------


def test_body_over_the_limit_is_413_on_http_v2_but_not_on_batch() -> None:
    emu = Emulator(SandboxConfig(http_body_limit=2_000, batch_body_limit=20_000))
    events = [ev(device_id=f"device-{i:05d}") for i in range(50)]
    assert len(body(events)) > 2_000
    r = post(emu, events)
    assert r.status == 413
    assert r.json()["code"] == 413
    assert emu.ingested == []
    assert post(emu, events, path="/batch").status == 200


def test_2000_events_is_413_on_http_v2_and_1999_is_fine() -> None:
    emu = Emulator()
    events = [ev(device_id=f"device-{i:05d}") for i in range(2000)]
    assert post(emu, events).status == 413
    assert emu.ingested == []
    assert post(emu, events[:1999]).status == 200
    assert post(emu, events, path="/batch", now=NOW + 100).status == 200


# -- 429 ----------------------------------------------------------------------------------


def test_partition_over_the_rate_is_throttled_and_nothing_is_ingested() -> None:
    # 1 event/s over 10 s: more than 10 events in the window throttles the device.
    emu = Emulator(SandboxConfig(device_eps=1, window_s=10))
    assert post(emu, [ev() for _ in range(11)]).status == 200  # a rate: measured afterwards
    r = post(emu, [ev(device_id="device-other"), ev()], now=NOW + 1)
    assert r.status == 429
    out = r.json()
    assert out["code"] == 429
    assert out["eps_threshold"] == 1
    assert out["throttled_devices"] == {"device-00001": 2}  # 11 events / 10 s, rounded up
    assert out["throttled_users"] == {}
    assert out["throttled_events"] == [1]
    assert len(emu.ingested) == 11  # the other device's event was not kept either
    # Once the burst leaves the window, the device may send again.
    assert post(emu, [ev()], now=NOW + 10.5).status == 200


def test_user_without_device_is_throttled_as_user() -> None:
    emu = Emulator(SandboxConfig(device_eps=1, window_s=5, limit_mode="strict"))
    r = post(emu, [ev(device_id=_DROP, user_id="user-12345") for _ in range(6)])
    assert r.status == 429
    assert r.json()["throttled_users"] == {"user-12345": 2}
    assert r.json()["throttled_events"] == list(range(6))


def test_batch_uses_its_own_higher_rate() -> None:
    emu = Emulator(SandboxConfig(device_eps=1, batch_device_eps=100, window_s=1, limit_mode="strict"))
    events = [ev() for _ in range(50)]
    assert post(emu, events).status == 429
    assert post(emu, events, path="/batch").status == 200


def test_project_event_rate_throttles_the_whole_project() -> None:
    # Starter plan (reference, "Limits"): events/s for the whole project, any device.
    emu = Emulator(SandboxConfig(project_eps=20, limit_mode="strict"))
    devices = [ev(device_id=f"device-{i:05d}") for i in range(10)]
    assert post(emu, devices).status == 200
    assert post(emu, devices, now=NOW + 0.5).status == 200  # 20 events: at the cap
    r = post(emu, [ev(device_id="device-fresh")], now=NOW + 0.9)  # a 21st within the second
    assert r.status == 429
    assert r.json() == {"code": 429, "error": "Too many requests for this project"}  # names nobody
    assert emu.counters["project_throttled"] == 1 and len(emu.ingested) == 20
    assert post(emu, devices, now=NOW + 1.2).status == 200  # the first 10 left the 1 s window


def test_project_request_rate_and_history_mode() -> None:
    emu = Emulator(SandboxConfig(project_rps=3, limit_mode="strict"))
    assert [post(emu, [ev()], now=NOW + i / 10).status for i in range(4)] == [200, 200, 200, 429]
    # History mode measures what was accepted: the request that tips it over goes through.
    emu = Emulator(SandboxConfig(project_rps=3))
    assert [post(emu, [ev()], now=NOW + i / 10).status for i in range(5)] == [200, 200, 200, 200, 429]
    assert emu.counters["project_throttled"] == 1


def test_project_rates_off_by_default_and_checked() -> None:
    assert SandboxConfig().project_eps is None and SandboxConfig().project_rps is None
    with pytest.raises(ValueError, match="project_eps"):
        SandboxConfig(project_eps=0)
    emu = Emulator(SandboxConfig())
    assert all(post(emu, [ev(device_id=f"d-{i:06d}")], now=NOW + i / 1e4).status == 200 for i in range(300))


# -- silenced and daily quota ---------------------------------------------------------------


def test_silenced_device_is_400_with_its_events() -> None:
    emu = Emulator(SandboxConfig(silenced_devices=frozenset({"device-silent"})))
    r = post(emu, [ev(), ev(device_id="device-silent"), ev(device_id="device-silent")])
    assert r.status == 400
    out = r.json()
    assert out["silenced_devices"] == ["device-silent"]
    assert out["silenced_events"] == [1, 2]
    assert emu.ingested == []


def test_daily_quota_exceeded_until_the_next_day() -> None:
    emu = Emulator(SandboxConfig(daily_quota=3))
    assert post(emu, [ev(), ev(), ev()]).status == 200
    r = post(emu, [ev(), ev(device_id="device-fresh")], now=NOW + 60)
    assert r.status == 400
    assert r.json()["exceeded_daily_quota_devices"] == {"device-00001": 3}
    assert len(emu.ingested) == 3
    assert post(emu, [ev()], now=NOW + 86_400).status == 200


# -- dedup, over a real socket --------------------------------------------------------------


def test_insert_id_dedup_over_a_real_socket() -> None:
    clock = [NOW]
    with Sandbox(clock=lambda: clock[0]) as sb, httpx.Client() as client:
        first = ev(insert_id="iid-1", event_properties={"n": 1})
        again = ev(insert_id="iid-1", event_properties={"n": 2})
        other_device = ev(insert_id="iid-1", device_id="device-00002")
        for e in (first, again, other_device):
            r = client.post(sb.http_url, content=body([e]))
            assert r.status_code == 200
            assert r.json()["events_ingested"] == 1  # Amplitude accepts the duplicate
        assert sb.ingested == [first, other_device]
        assert sb.emulator.duplicates == 1
        clock[0] += 7 * 86_400 + 1  # the 7-day window has passed
        client.post(sb.http_url, content=body([again]))
        assert sb.ingested[-1] == again


# -- faults ---------------------------------------------------------------------------------


def test_after_fault_ingests_and_the_retry_is_deduplicated() -> None:
    emu = Emulator(SandboxConfig(faults=Faults(p_500_after=1.0)))
    e = ev(insert_id="iid-retry")
    assert post(emu, [e]).status == 500
    assert emu.ingested == [e]
    emu.configure(faults=Faults())
    assert post(emu, [e]).status == 200
    assert emu.ingested == [e]
    assert emu.duplicates == 1


@pytest.mark.parametrize(("p", "status"), [("p_502_after", 502), ("p_504_after", 504)])
def test_gateway_faults_are_not_json(p: str, status: int) -> None:
    emu = Emulator(SandboxConfig(faults=Faults(**{p: 1.0})))
    r = post(emu, [ev()])
    assert r.status == status
    assert not r.headers["content-type"].startswith("application/json")
    assert len(emu.ingested) == 1


def test_before_fault_ingests_nothing() -> None:
    emu = Emulator(SandboxConfig(faults=Faults(p_503_before=1.0)))
    assert post(emu, [ev()]).status == 503
    assert emu.ingested == []


def test_seeded_faults_repeat() -> None:
    def statuses(seed: int) -> list[int]:
        emu = Emulator(SandboxConfig(faults=Faults(p_503_before=0.3, p_500_after=0.3, seed=seed)))
        return [post(emu, [ev()], now=NOW + i).status for i in range(40)]

    a = statuses(7)
    assert a == statuses(7)
    assert {200, 500, 503} <= set(a)


def test_script_forces_answers_in_order() -> None:
    emu = Emulator()
    emu.fail_next(2, 503)
    emu.enqueue(429)
    emu.enqueue(400, {"code": 400, "error": "custom"})
    events = [ev(), ev(device_id=_DROP, user_id="user-12345")]
    assert [post(emu, events).status for _ in range(2)] == [503, 503]
    throttled = post(emu, events).json()
    assert throttled["throttled_devices"].keys() == {"device-00001"}
    assert throttled["throttled_users"].keys() == {"user-12345"}
    assert throttled["throttled_events"] == [0, 1]
    assert post(emu, events).json()["error"] == "custom"
    assert emu.ingested == []
    assert post(emu, events).status == 200


def test_faults_validate_probabilities() -> None:
    with pytest.raises(ValueError, match="probabilit"):
        Faults(p_500_after=1.5)
    with pytest.raises(ValueError, match="after"):
        Faults(p_500_after=0.6, p_drop_after=0.6)


# -- the server -------------------------------------------------------------------------------


def test_dropped_connection_raises_in_httpx() -> None:
    with Sandbox() as sb, httpx.Client() as client:
        sb.fail_next(1, None)
        with pytest.raises(httpx.TransportError):
            client.post(sb.http_url, content=body([ev()]))
        assert sb.ingested == []
        sb.configure(faults=Faults(p_drop_after=1.0))
        with pytest.raises(httpx.TransportError):
            client.post(sb.http_url, content=body([ev()]))
        assert len(sb.ingested) == 1  # dropped after ingesting
        assert [r.status for r in sb.emulator.requests] == [None, None]


def test_keep_alive_reuses_one_connection() -> None:
    with Sandbox() as sb, httpx.Client() as client:
        for i in range(5):
            r = client.post(sb.http_url, content=body([ev(device_id=f"device-{i:05d}")]))
            assert r.status_code == 200
            assert r.headers["connection"] == "keep-alive"
        # A 400 leaves the connection usable too.
        assert client.post(sb.http_url, content=b"{").status_code == 400
        assert client.post(sb.batch_url, content=body([ev()])).status_code == 200
        assert sb.connections_opened == 1
        assert len(sb.ingested) == 6


def test_chunked_request_body_is_read() -> None:
    def gen():
        raw = body([ev()])
        yield raw[:10]
        yield raw[10:]

    with Sandbox() as sb, httpx.Client() as client:
        r = client.post(sb.http_url, content=gen())
        assert r.status_code == 200
        assert sb.ingested == [ev()]


def test_urls_and_the_in_process_transport_share_one_emulator() -> None:
    with Sandbox() as sb:
        assert sb.url.startswith("http://127.0.0.1:")
        assert sb.http_url == sb.url + "/2/httpapi"
        assert sb.batch_url == sb.url + "/batch"
        with httpx.Client(transport=sb.transport()) as client:
            assert client.post("http://sandbox/2/httpapi", content=body([ev()])).status_code == 200
        assert len(sb.ingested) == 1


# -- in-process transport ------------------------------------------------------------------------


def test_transport_sync() -> None:
    emu = Emulator()
    with httpx.Client(transport=SandboxTransport(emu)) as client:
        r = client.post("https://api2.amplitude.com/2/httpapi", content=body([ev()]))
        assert r.status_code == 200
        assert r.json()["events_ingested"] == 1
        emu.fail_next(1, None)
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("https://api2.amplitude.com/2/httpapi", content=body([ev()]))
        emu.fail_next(1, None, ingest=True)
        with pytest.raises(httpx.TransportError):
            client.post("https://api2.amplitude.com/2/httpapi", content=body([ev()]))
    assert len(emu.ingested) == 2


def test_transport_async_with_latency() -> None:
    emu = Emulator(SandboxConfig(faults=Faults(latency_s=0.05)))

    async def go() -> tuple[int, float]:
        async with httpx.AsyncClient(transport=SandboxTransport(emu)) as client:
            t = time.perf_counter()
            r = await client.post("https://api2.amplitude.com/batch", content=body([ev()]))
            return r.status_code, time.perf_counter() - t

    status, elapsed = asyncio.run(go())
    assert status == 200
    assert elapsed >= 0.045
    assert len(emu.ingested) == 1


# -- secrets -------------------------------------------------------------------------------------


def test_api_key_never_in_log_or_repr() -> None:
    secret = "super-secret-key-123456"
    with Sandbox(SandboxConfig(api_keys=frozenset({secret}))) as sb, httpx.Client() as client:
        client.post(sb.http_url, content=body([ev()], key=secret))
        client.post(sb.http_url, content=body([ev(event_type=_DROP)], key=secret))
        texts = [repr(sb), repr(sb.emulator), repr(sb.config), repr(sb.emulator.requests)]
        texts += [repr(sb.emulator.counters), repr(sb.ingested)]
        assert all(secret not in t for t in texts)
        assert [r.status for r in sb.emulator.requests] == [200, 400]
        assert [r.n_events for r in sb.emulator.requests] == [1, 1]


# -- separate process ------------------------------------------------------------------------------


def test_module_serves_and_prints_its_url() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "amp_notebook.sandbox", "--port", "0", "--api-key", KEY],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client() as client:
            assert client.post(url + "/2/httpapi", content=body([ev()])).status_code == 200
            assert client.post(url + "/2/httpapi", content=body([ev()], key="nope")).status_code == 400
            assert client.get(url + "/_sandbox/stats").json()["events_ingested"] == 1
    finally:
        proc.terminate()
        proc.wait(10)


def test_module_takes_project_rates() -> None:
    from amp_notebook.sandbox.__main__ import _parser

    a = _parser().parse_args(["--project-eps", "1000", "--project-rps", "100"])
    assert (a.project_eps, a.project_rps) == (1000.0, 100.0)
    assert _parser().parse_args([]).project_eps is None
