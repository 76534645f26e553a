"""amp-notebook: every subcommand and exit code, against a real sandbox on 127.0.0.1.

Exit codes (the contract): 0 every row fine, 1 some rows not (their file with
reasons is written), 2 usage/configuration errors (one line on stderr, no traceback).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from amp_notebook.cli import main, parse_mapping
from amp_notebook.demo import DEMO_MAPPING, INVALID_ROWS, sample_events
from amp_notebook.sandbox import Sandbox, SandboxConfig

PROPS = "event_properties=song,genre,duration_s"
# Reference, "Event keys": "[Amplitude] Start Session" is a reserved event_type; "General rules":
# strings over 1024 characters; every event needs a user_id or a device_id.
EXPECTED_REASONS = {"id_missing", "event_type_reserved", "string_too_long"}


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True, date_format="iso")
    return path


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_json(path, lines=True, dtype=False)


def _assert_usage_error(rc: int, err: str) -> None:
    assert rc == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "a usage error must say something on stderr"
    # argparse names the subcommand too: "amp-notebook validate: error: ...".
    assert re.match(r"amp-notebook( \w+)?: error: ", lines[-1]), lines[-1]


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    value = "test-key-0123456789abcdef"
    monkeypatch.setenv("AMPLITUDE_API_KEY", value)
    return value


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    with Sandbox() as sb:
        yield sb  # type: ignore[misc]


# -- the sample frame --------------------------------------------------------------------


def test_sample_events_is_realistic_and_deterministic() -> None:
    a = sample_events(300, seed=0)
    assert len(a) == 300
    pd.testing.assert_frame_equal(a, sample_events(300, seed=0))
    assert not a.equals(sample_events(300, seed=1))
    assert a["user_id"].nunique() >= 5
    assert a["device_id"].nunique() >= 5
    assert a["event_type"].nunique() >= 4
    assert pd.api.types.is_datetime64_any_dtype(a["time"])
    assert a["time"].is_monotonic_increasing
    # The planted rows (reference rules), exactly as INVALID_ROWS says.
    assert (a["event_type"] == "[Amplitude] Start Session").sum() == 1
    assert (a["song"].str.len() > 1024).sum() == 1
    assert (a["user_id"].isna() & a["device_id"].isna()).sum() == 1
    assert ((a["user_id"] == "null") & a["device_id"].isna()).sum() == 1
    assert len(INVALID_ROWS) == 4


def test_sample_events_validates_as_planted() -> None:
    clean = sample_events(200, seed=3, invalid=False).amplitude.validate(DEMO_MAPPING)
    assert clean.ok
    report = sample_events(200, seed=3).amplitude.validate(DEMO_MAPPING)
    errors = report.failures[report.failures["severity"] == "error"]
    assert set(errors["reason"]) == {code for code, _ in INVALID_ROWS}
    assert len(report.error_positions) == 4


def test_sample_events_small_n() -> None:
    assert len(sample_events(0)) == 0
    tiny = sample_events(2, seed=0)
    assert len(tiny) == 2


# -- demo ---------------------------------------------------------------------------------


def test_demo_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--rows", "120"]) == 0
    out, err = capsys.readouterr()
    valid = 120 - len(INVALID_ROWS)
    for code in ("id_missing", "event_type_reserved", "string_too_long", "id_invalid"):
        assert code in out  # the failures table
    assert f"ingested {valid}" in out
    assert out.count("UploadResult") == 2
    first = re.search(r"now stores (\d+) events", out)
    second = re.search(r"still stores (\d+) events", out)
    assert first
    assert second
    assert int(first.group(1)) == int(second.group(1)) == valid
    assert "100%" in err  # the text progress bar goes to stderr


def test_demo_as_a_process() -> None:
    env = {k: v for k, v in os.environ.items() if k != "AMPLITUDE_API_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "amp_notebook.cli", "demo", "--rows", "60"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "UploadResult" in proc.stdout
    assert "Traceback" not in proc.stderr


# -- validate -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["events.csv", "events.parquet", "events.pq", "events.jsonl", "events.ndjson"])
def test_validate_formats_exit_1_and_write_reasons(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write(sample_events(40, seed=1), tmp_path / name)
    assert main(["validate", str(src), "--map", PROPS]) == 1
    out, _ = capsys.readouterr()
    assert "40 rows, 4 with errors" in out
    written = tmp_path / f"{name}.validate-errors.csv"
    assert written.exists()
    bad = pd.read_csv(written)
    assert len(bad) == 4
    assert bad["_amplitude_reason"].notna().all()
    assert bad["_amplitude_message"].str.len().min() > 10
    assert set(bad["_amplitude_reason"]) >= EXPECTED_REASONS
    # The user's columns come along, so the file can be fixed and sent again.
    assert {"user_id", "device_id", "event_type", "song"} <= set(bad.columns)


def test_validate_clean_file_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(sample_events(30, seed=2, invalid=False), tmp_path / "ok.csv")
    assert main(["validate", str(src), "--map", PROPS]) == 0
    assert "0 with errors" in capsys.readouterr().out
    assert not (tmp_path / "ok.csv.validate-errors.csv").exists()


def test_validate_min_id_length_and_const(tmp_path: Path) -> None:
    frame = pd.DataFrame({"user_id": ["abc", "abcdef"], "time": [1717401677000, 1717401678000]})
    src = _write(frame, tmp_path / "short.csv")
    # No event_type column: --const supplies it. "abc" is shorter than the default 5.
    assert main(["validate", str(src), "--const", "event_type=Open App"]) == 1
    bad = pd.read_csv(tmp_path / "short.csv.validate-errors.csv")
    assert list(bad["user_id"]) == ["abc"]
    assert main(["validate", str(src), "--const", "event_type=Open App", "--min-id-length", "3"]) == 0
    assert main(["validate", str(src)]) == 1  # no event_type at all


def test_validate_out_option(tmp_path: Path) -> None:
    src = _write(sample_events(40, seed=1), tmp_path / "in.csv")
    out = tmp_path / "bad.jsonl"
    assert main(["validate", str(src), "--map", PROPS, "--out", str(out)]) == 1
    assert len(_read(out)) == 4
    assert not (tmp_path / "in.csv.validate-errors.csv").exists()


# -- upload ----------------------------------------------------------------------------------


def test_upload_to_sandbox_exit_1_with_reasons(
    tmp_path: Path, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with Sandbox() as sb:
        src = _write(sample_events(40, seed=4), tmp_path / "up.parquet")
        assert main(["upload", str(src), "--map", PROPS, "--endpoint", sb.http_url]) == 1
        assert len(sb.ingested) == 36
        # Properties went where --map said.
        assert any("song" in (e.get("event_properties") or {}) for e in sb.ingested)
    out, err = capsys.readouterr()
    assert "ingested 36" in out
    assert "skipped 4" in out
    assert key not in out + err
    bad = pd.read_csv(tmp_path / "up.parquet.upload-not-ingested.csv")
    assert len(bad) == 4
    assert set(bad["_amplitude_status"]) == {"skipped"}
    assert set(bad["_amplitude_reason"]) >= EXPECTED_REASONS
    assert bad["_amplitude_message"].str.len().min() > 10


def test_upload_all_ingested_exit_0_keeps_ids_as_text(
    tmp_path: Path, key: str, sandbox: Sandbox
) -> None:
    # A CSV id with leading zeros must reach Amplitude as the same string.
    frame = pd.DataFrame(
        {
            "user_id": ["0012345", "0098765"],
            "event_type": ["Open App", "Search"],
            "timestamp": ["2024-06-03T08:00:00Z", "2024-06-03T08:01:00Z"],
            "plan": ["pro", "free"],
        }
    )
    src = _write(frame, tmp_path / "ids.csv")
    before = len(sandbox.ingested)
    rc = main(["upload", str(src), "--map", "event_properties.tier=plan", "--map", "plan=",
               "--endpoint", sandbox.http_url, "--no-progress"])
    assert rc == 0
    new = sandbox.ingested[before:]
    assert sorted(e["user_id"] for e in new) == ["0012345", "0098765"]
    assert {e["event_properties"]["tier"] for e in new} == {"pro", "free"}
    assert not (tmp_path / "ids.csv.upload-not-ingested.csv").exists()


def test_same_rows_in_any_format_are_deduplicated(tmp_path: Path, key: str) -> None:
    # Re-sending a file after converting it must not duplicate events in Amplitude:
    # the three readers give the same events, so the same insert_ids.
    frame = sample_events(60, seed=6, invalid=False)
    with Sandbox() as sb:
        counts = []
        for name in ("a.csv", "a.jsonl", "a.parquet"):
            src = _write(frame, tmp_path / name)
            assert main(["upload", str(src), "--map", PROPS, "--endpoint", sb.http_url,
                         "--no-progress"]) == 0
            counts.append(len(sb.ingested))
        stored = sb.ingested
    assert counts == [60, 60, 60]
    durations = [(e.get("event_properties") or {}).get("duration_s") for e in stored]
    assert all(d is None or isinstance(d, int) for d in durations)


def test_upload_batch_api(tmp_path: Path, key: str, sandbox: Sandbox) -> None:
    src = _write(sample_events(25, seed=5, invalid=False), tmp_path / "b.jsonl")
    rc = main(["upload", str(src), "--map", PROPS, "--api", "batch", "--endpoint", sandbox.batch_url,
               "--no-progress"])
    assert rc == 0
    assert any(r.path.endswith("/batch") for r in sandbox.emulator.requests)


def test_upload_failed_rows_exit_1(tmp_path: Path, key: str) -> None:
    # Reference, "Responses": over the daily quota -> those events are not ingested.
    with Sandbox(SandboxConfig(daily_quota=3, limit_mode="strict")) as sb:
        src = _write(sample_events(40, seed=1, invalid=False), tmp_path / "q.csv")
        assert main(["upload", str(src), "--endpoint", sb.http_url, "--no-progress"]) == 1
        stored = len(sb.ingested)
    bad = pd.read_csv(tmp_path / "q.csv.upload-not-ingested.csv")
    assert len(bad) == 40 - stored > 0
    assert set(bad["_amplitude_status"]) == {"failed"}
    assert bad["_amplitude_reason"].notna().all()


def test_upload_dry_run_needs_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AMPLITUDE_API_KEY", raising=False)
    src = _write(sample_events(40, seed=1), tmp_path / "d.csv")
    assert main(["upload", str(src), "--map", PROPS, "--dry-run"]) == 1
    assert "dry run" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "d.csv.upload-not-ingested.csv")) >= 3
    clean = _write(sample_events(40, seed=1, invalid=False), tmp_path / "c.csv")
    assert main(["upload", str(clean), "--map", PROPS, "--dry-run"]) == 0


def test_upload_without_key_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AMPLITUDE_API_KEY", raising=False)
    src = _write(sample_events(10, invalid=False), tmp_path / "k.csv")
    rc = main(["upload", str(src)])
    err = capsys.readouterr().err
    _assert_usage_error(rc, err)
    assert "AMPLITUDE_API_KEY" in err
    # There is no flag for the key (it would land in shell history).
    rc = main(["upload", str(src), "--api-key", "secret"])
    _assert_usage_error(rc, capsys.readouterr().err)


def test_upload_invalid_key_exit_2(
    tmp_path: Path, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with Sandbox(SandboxConfig(api_keys=frozenset({"the-right-key-000"}))) as sb:
        src = _write(sample_events(10, invalid=False), tmp_path / "k.csv")
        rc = main(["upload", str(src), "--endpoint", sb.http_url, "--no-progress"])
        assert len(sb.ingested) == 0
    out, err = capsys.readouterr()
    _assert_usage_error(rc, err)
    assert "invalid" in err.lower()
    assert key not in out + err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["validate", "{dir}/events.txt"], "unknown file type"),
        (["validate", "{dir}/missing.csv"], "missing.csv"),
        (["validate", "{dir}/garbage.parquet"], "cannot read"),
        (["validate", "{dir}/ok.csv", "--map", "user_id=no_such_column"], "no_such_column"),
        (["validate", "{dir}/ok.csv", "--map", "user_id"], "KEY=VALUE"),
        (["validate", "{dir}/ok.csv", "--const", "time=yesterday"], "integer"),
        (["validate", "{dir}/ok.csv", "--const", "event_type=a", "--map", "event_type=b"], "more than once"),
        (["validate", "{dir}/ok.csv", "--tz", "Mars/Olympus"], "time zone"),
        (["validate", "{dir}/ok.csv", "--time-unit", "hours"], "invalid choice"),
        (["upload", "{dir}/ok.csv", "--region", "mars"], "invalid choice"),
        (["upload", "{dir}/ok.csv", "--endpoint", "http://203.0.113.9/2/httpapi"], "https"),
        (["upload", "{dir}/ok.csv", "--endpoint", "ftp://x"], "endpoint"),
        ([], "required"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_and_configuration_errors_exit_2(
    tmp_path: Path,
    key: str,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    needle: str,
) -> None:
    _write(sample_events(10, invalid=False), tmp_path / "ok.csv")
    (tmp_path / "events.txt").write_text("user_id\nx\n")
    (tmp_path / "garbage.parquet").write_bytes(b"this is not parquet")
    rc = main([a.format(dir=tmp_path) for a in args])
    err = capsys.readouterr().err
    _assert_usage_error(rc, err)
    assert needle in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("demo", "sandbox", "validate", "upload"):
        assert command in out
    assert main(["upload", "--help"]) == 0
    assert "--api-key" not in capsys.readouterr().out


def test_parse_mapping() -> None:
    from amp_notebook import Const

    m = parse_mapping(
        ["event_properties=a, b,c", "user_id=uid", "time=", "event_properties.plan=p"],
        ["event_type=Purchase", "price=9.5", "quantity=2", "$skip_user_properties_sync=true"],
    )
    assert m is not None
    assert m["event_properties"] == ["a", "b", "c"]
    assert m["user_id"] == "uid"
    assert m["time"] is None
    assert m["event_properties.plan"] == "p"
    assert m["event_type"] == Const("Purchase")
    assert m["price"] == Const(9.5)
    assert m["quantity"] == Const(2)
    assert m["$skip_user_properties_sync"] == Const(True)
    assert parse_mapping([], []) is None


def test_parse_mapping_key_syntax() -> None:
    import amp_notebook as amp

    m = parse_mapping(["insert_id=key(order_id,event_type)", "event_properties.id= key( order id , sku )"], [])
    assert m == {"insert_id": amp.key("order_id", "event_type"), "event_properties.id": amp.key("order id", "sku")}
    assert parse_mapping(["user_id=keyring"], []) == {"user_id": "keyring"}  # a column name, not key(...)


@pytest.mark.parametrize("value", ["key()", "key(order_id,,sku)", "key(order_id,order_id)"])
def test_map_key_syntax_errors_exit_2(value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(sample_events(5, invalid=False), tmp_path / "k.csv")
    rc = main(["validate", str(src), "--map", f"insert_id={value}"])
    err = capsys.readouterr().err
    _assert_usage_error(rc, err)
    assert "key(" in err and "insert_id" in err


@pytest.mark.parametrize("name", ["orders.csv", "orders.parquet"])
def test_map_insert_id_key_gives_the_python_calls_insert_ids(name: str, tmp_path: Path, key: str) -> None:
    """``--map 'insert_id=key(order_id,event_type)'`` sends the insert_ids of
    ``mapping={"insert_id": amp_notebook.key("order_id", "event_type")}``, and a corrected
    file sent again is not stored twice (README, "An insert_id from your own key")."""
    import amp_notebook as amp

    orders = pd.DataFrame({
        "user_id": [f"user-{i % 3:05d}" for i in range(6)],
        "event_type": ["Purchase", "Refund"] * 3,
        "time": [1_767_225_600_000 + 60_000 * i for i in range(6)],
        "order_id": [1001, 1001, 1002, 1002, 1003, 1003],
        "price": [9.99, 9.99, 19.99, 19.99, 5.0, 5.0],
    })
    mapping = {"insert_id": amp.key("order_id", "event_type"), "event_properties.price": "price"}
    with Sandbox() as by_python, Sandbox() as by_cli:
        assert orders.amplitude.upload(mapping=mapping, endpoint=by_python.http_url, progress=False).ok
        src = _write(orders, tmp_path / name)
        flags = ["--map", "insert_id=key(order_id, event_type)", "--map", "event_properties.price=price",
                 "--endpoint", by_cli.http_url, "--no-progress"]
        assert main(["upload", str(src), *flags]) == 0
        events = list(amp.to_events(orders, mapping))
        wanted = {e["insert_id"]: e["event_properties"]["price"] for e in events}
        assert len(wanted) == 6
        for sb in (by_python, by_cli):  # the same events, stored in send order (device by device)
            assert {e["insert_id"]: e["event_properties"]["price"] for e in sb.ingested} == wanted
            assert len(sb.ingested) == 6
        # A corrected price, sent again: the same insert_ids, so nothing is stored twice
        # (Amplitude keeps the first event of an insert_id).
        corrected = orders.assign(price=orders["price"] + 1)
        _write(corrected, src)
        assert main(["upload", str(src), *flags]) == 0
        assert [e["insert_id"] for e in amp.to_events(corrected, mapping)] == [e["insert_id"] for e in events]
        assert len(by_cli.ingested) == 6
        assert {e["insert_id"]: e["event_properties"]["price"] for e in by_cli.ingested} == wanted


# -- sandbox ---------------------------------------------------------------------------------


def test_sandbox_subcommand_serves_until_terminated() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "amp_notebook.cli", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        base = re.search(r"(http://127\.0\.0\.1:\d+)\s*$", lines[0])
        http = re.search(r"HTTP V2:\s*(\S+)", lines[1])
        batch = re.search(r"Batch:\s*(\S+)", lines[2])
        assert base, lines
        assert http, lines
        assert batch, lines
        assert http.group(1).startswith(base.group(1))
        event = {"user_id": "cli-user-1", "event_type": "Open App", "insert_id": "cli-test-1"}
        response = httpx.post(http.group(1), json={"api_key": "any-key", "events": [event]}, timeout=10)
        assert response.status_code == 200
        assert response.json()["events_ingested"] == 1
    finally:
        proc.terminate()
        deadline = time.monotonic() + 10
        rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        rest, err = proc.communicate()
    assert rc == 0, err
    assert "events stored: 1" in rest
