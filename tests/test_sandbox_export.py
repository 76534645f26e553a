"""The sandbox's Export API (GET /api/2/export) over a real socket: layout, auth, delay, faults."""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import orjson
import pytest

from amp_notebook.sandbox import EXPORT_PATH, Faults, Sandbox, SandboxConfig
from amp_notebook.sandbox._export import export_event, format_time, member_name, parse_hour

T0 = datetime(2026, 3, 1, 22, 30, tzinfo=timezone.utc).timestamp()  # 22:30 UTC, a day boundary ahead
AUTH = ("api-key-12345", "secret-key-67890")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _events(n: int, prefix: str = "e") -> list[dict[str, object]]:
    return [
        {"device_id": f"device-{i % 3:03d}", "event_type": "Play", "insert_id": f"{prefix}{i:05d}",
         "time": 1_772_400_000_000 + i, "event_properties": {"n": i}, "app_version": "1.2.3"}
        for i in range(n)
    ]


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def sandbox(clock: Clock) -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(export_delay_s=0, export_events_per_file=4), clock=clock) as sb:
        yield sb


def _post(sb: Sandbox, events: list[dict[str, object]]) -> None:
    r = httpx.post(sb.http_url, json={"api_key": AUTH[0], "events": events})
    assert r.status_code == 200, r.text


def _export(sb: Sandbox, start: str, end: str, auth: tuple[str, str] | None = AUTH) -> httpx.Response:
    return httpx.get(sb.export_url, params={"start": start, "end": end}, auth=auth)


def _read(zip_bytes: bytes) -> dict[str, list[dict[str, object]]]:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        return {
            name: [orjson.loads(line) for line in gzip.decompress(archive.read(name)).splitlines()]
            for name in archive.namelist()
        }


def test_export_layout_several_files_per_hour_over_a_day_boundary(sandbox: Sandbox, clock: Clock) -> None:
    _post(sandbox, _events(10, "a"))          # 22:30 on 1 March
    clock.now += 2 * 3600                     # 00:30 on 2 March
    _post(sandbox, _events(3, "b"))
    r = _export(sandbox, "20260301T22", "20260302T00")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    files = _read(r.content)
    pid = sandbox.config.project_id
    assert sorted(files) == [
        f"{pid}/{pid}_2026-03-01_22#0.json.gz", f"{pid}/{pid}_2026-03-01_22#1.json.gz",
        f"{pid}/{pid}_2026-03-01_22#2.json.gz", f"{pid}/{pid}_2026-03-02_0#0.json.gz",
    ]
    assert [len(v) for k, v in sorted(files.items())] == [4, 4, 2, 3]
    first = files[f"{pid}/{pid}_2026-03-01_22#0.json.gz"][0]
    assert first["$insert_id"] == "a00000"
    assert first["server_upload_time"] == "2026-03-01 22:30:00.000000"
    assert first["event_time"] == format_time(1_772_400_000_000) == "2026-03-01 21:20:00.000000"
    assert first["version_name"] == "1.2.3" and "app_version" not in first
    assert first["event_properties"] == {"n": 0} and first["user_id"] is None
    # Only the hours asked for.
    assert sorted(_read(_export(sandbox, "20260302T00", "20260302T00").content)) == [f"{pid}/{pid}_2026-03-02_0#0.json.gz"]


def test_no_data_is_404_and_bad_queries_are_400(sandbox: Sandbox) -> None:
    _post(sandbox, _events(2))
    assert _export(sandbox, "20260301T10", "20260301T11").status_code == 404
    assert _export(sandbox, "2026-03-01", "20260301T11").status_code == 400
    assert _export(sandbox, "20260301T12", "20260301T11").status_code == 400
    assert _export(sandbox, "20250101T00", "20260301T23").status_code == 400  # over 365 days
    assert httpx.post(sandbox.export_url, auth=AUTH).status_code == 405


def test_basic_auth_is_checked_and_never_echoed(clock: Clock) -> None:
    config = SandboxConfig(export_delay_s=0, api_keys={AUTH[0]}, secret_keys={AUTH[1]})
    with Sandbox(config, clock=clock) as sb:
        _post(sb, _events(2))
        assert _export(sb, "20260301T22", "20260301T22").status_code == 200
        for auth in (None, (AUTH[0], "wrong-secret-999"), ("wrong-api-key", AUTH[1])):
            r = _export(sb, "20260301T22", "20260301T22", auth)
            assert r.status_code == 401
            assert "wrong" not in r.text and AUTH[1] not in r.text
        assert AUTH[1] not in repr(sb.config) and AUTH[1] not in repr(sb.emulator.requests)


def test_data_becomes_exportable_after_the_delay(clock: Clock) -> None:
    with Sandbox(SandboxConfig(export_delay_s=3 * 3600), clock=clock) as sb:  # about Amplitude's delay
        _post(sb, _events(2))
        assert _export(sb, "20260301T22", "20260301T22").status_code == 404
        clock.now = datetime(2026, 3, 2, 0, 59, tzinfo=timezone.utc).timestamp()
        assert _export(sb, "20260301T22", "20260301T22").status_code == 404
        clock.now = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc).timestamp()
        assert _export(sb, "20260301T22", "20260301T22").status_code == 200


def test_faults_504_for_large_ranges_and_a_truncated_zip(sandbox: Sandbox) -> None:
    _post(sandbox, _events(5))
    sandbox.configure(export_504_over_hours=2)
    assert _export(sandbox, "20260301T20", "20260301T23").status_code == 504
    assert _export(sandbox, "20260301T22", "20260301T23").status_code == 200
    sandbox.configure(export_504_over_hours=None, export_truncate=True)
    r = _export(sandbox, "20260301T22", "20260301T22")
    assert r.status_code == 200
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(r.content))


def test_size_limit_is_a_400(sandbox: Sandbox) -> None:
    _post(sandbox, _events(20))
    sandbox.configure(export_size_limit=100)
    r = _export(sandbox, "20260301T22", "20260301T22")
    assert r.status_code == 400 and "size" in r.json()["error"]


def test_silent_loss_is_acknowledged_not_stored_and_a_resend_stores_it(clock: Clock) -> None:
    config = SandboxConfig(export_delay_s=0, faults=Faults(p_lose=0.3, seed=7))
    with Sandbox(config, clock=clock) as sb:
        events = _events(50)
        r = httpx.post(sb.http_url, json={"api_key": AUTH[0], "events": events})
        assert r.json()["events_ingested"] == 50
        lost = {e["insert_id"] for e in sb.emulator.lost}
        assert 0 < len(lost) < 50
        exported = {e["$insert_id"] for f in _read(_export(sb, "20260301T22", "20260301T22").content).values() for e in f}
        assert exported == {e["insert_id"] for e in events} - lost
        assert sb.emulator.counters["events_lost"] == len(lost)
        _post(sb, [e for e in events if e["insert_id"] in lost])  # a loss is transient: stored now
        exported = {e["$insert_id"] for f in _read(_export(sb, "20260301T22", "20260301T22").content).values() for e in f}
        assert exported == {e["insert_id"] for e in events}


def test_in_process_transport_serves_the_export_too(sandbox: Sandbox, clock: Clock) -> None:
    _post(sandbox, _events(3))
    with httpx.Client(transport=sandbox.transport()) as client:
        r = client.get("http://sandbox" + EXPORT_PATH, params={"start": "20260301T22", "end": "20260301T22"}, auth=AUTH)
    assert r.status_code == 200 and sum(len(v) for v in _read(r.content).values()) == 3


def test_export_event_renames_keys_and_revenue() -> None:
    line = export_event(
        {"user_id": "user-1", "event_type": "Buy", "price": 2.5, "quantity": 2, "revenue": 5.0,
         "productId": "p1", "carrier": "acme", "ip": "127.0.0.1", "insert_id": "x1"},
        1_772_400_000_000, 42,
    )
    assert line["event_properties"] == {"$price": 2.5, "$quantity": 2, "$revenue": 5.0, "$productId": "p1"}
    assert line["device_carrier"] == "acme" and line["ip_address"] == "127.0.0.1"
    assert line["event_time"] == line["server_upload_time"] == "2026-03-01 21:20:00.000000"
    assert line["session_id"] == -1 and line["app"] == 42 and line["device_id"] is None
    assert parse_hour("20260301T21") == 1_772_400_000 // 3600
    assert parse_hour("2026030121") is None
    assert re.fullmatch(r"7/7_2026-03-01_5#3\.json\.gz", member_name(7, parse_hour("20260301T05") or 0, 3))


def test_which_events_are_lost_does_not_depend_on_arrival_order(clock: Clock) -> None:
    config = SandboxConfig(export_delay_s=0, faults=Faults(p_lose=0.25, seed=3))
    events = _events(80)
    lost = []
    for order in (events, events[::-1]):
        with Sandbox(config, clock=clock) as sb:
            for i in range(0, len(order), 7):
                _post(sb, order[i : i + 7])
            lost.append({e["insert_id"] for e in sb.emulator.lost})
    assert lost[0] == lost[1] and 5 < len(lost[0]) < 40
    with Sandbox(config.replace(faults=Faults(p_lose=0.25, seed=4)), clock=clock) as sb:
        _post(sb, events)
        assert {e["insert_id"] for e in sb.emulator.lost} != lost[0]  # another seed, other events
