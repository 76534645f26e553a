"""amp-notebook identify / group-identify: the same exit codes and rows file as upload."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from amp_notebook.cli import main, parse_identify_mapping
from amp_notebook.sandbox import Sandbox, SandboxConfig


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    value = "test-key-0123456789abcdef"
    monkeypatch.setenv("AMPLITUDE_API_KEY", value)
    return value


def users_csv(path: Path) -> Path:
    pd.DataFrame({
        "id": ["00123", "00456", "0"],
        "plan": ["pro", "free", "team"],
        "logins": [3, 1, 2],
        "notes": ["x", "y", "z"],
    }).to_csv(path, index=False)
    return path


def test_identify_exit_1_writes_the_rows_not_ingested(
    tmp_path: Path, key: str, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    src = users_csv(tmp_path / "users.csv")
    rc = main(["identify", str(src), "--map", "user_id=id", "--map", "notes=", "--op", "logins=add",
               "--endpoint", sandbox.identify_url, "--no-progress"])
    assert rc == 1
    # Ids stay text ("00123", not 123); "notes" was left out; logins was added.
    assert sandbox.user_properties("00123") == {"plan": "pro", "logins": 3}
    assert sandbox.user_properties("00456") == {"plan": "free", "logins": 1}
    out, err = capsys.readouterr()
    assert "ingested 2" in out and "skipped 1" in out and "Identify (127.0.0.1:" in out
    assert key not in out + err
    bad = pd.read_csv(tmp_path / "users.csv.identify-not-ingested.csv")
    assert bad["_amplitude_reason"].tolist() == ["id_invalid"]


def test_identify_all_ingested_exit_0(tmp_path: Path, key: str, sandbox: Sandbox) -> None:
    src = tmp_path / "users.parquet"
    pd.DataFrame({"user_id": ["user-1", "user-2"], "plan": ["a", None]}).to_parquet(src, index=False)
    rc = main(["identify", str(src), "--unset-missing", "--endpoint", sandbox.identify_url, "--no-progress"])
    assert rc == 0
    assert sandbox.user_properties("user-2") is not None


def test_group_identify(tmp_path: Path, key: str, sandbox: Sandbox) -> None:
    src = tmp_path / "accounts.jsonl"
    pd.DataFrame({"org_id": ["org-1", "org-2"], "seats": [10, 3], "plan": ["ent", "free"]}).to_json(
        src, orient="records", lines=True)
    rc = main(["group-identify", str(src), "--group-type", "company", "--group-value", "org_id",
               "--op", "seats=add", "--endpoint", sandbox.group_identify_url, "--no-progress"])
    assert rc == 0
    assert sandbox.group_properties("company", "org-1") == {"seats": 10, "plan": "ent"}


def test_dry_run_needs_no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AMPLITUDE_API_KEY", raising=False)
    src = users_csv(tmp_path / "users.csv")
    assert main(["identify", str(src), "--map", "user_id=id", "--dry-run"]) == 1  # one invalid row
    assert "would send 2 identifications in 1 request" in capsys.readouterr().out
    assert main(["identify", str(src), "--map", "user_id=id"]) == 2  # no key, not a dry run


def test_invalid_key_and_bad_operation_exit_2(tmp_path: Path, key: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    src = users_csv(tmp_path / "users.csv")
    with Sandbox(SandboxConfig(api_keys={"another-key-123"})) as sb:
        rc = main(["identify", str(src), "--map", "user_id=id", "--endpoint", sb.identify_url, "--no-progress"])
    assert rc == 2
    assert main(["identify", str(src), "--map", "user_id=id", "--op", "logins=increment", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "API key is invalid" in err and "unknown operation 'increment'" in err
    assert "Traceback" not in err and key not in err


def test_parse_identify_mapping() -> None:
    assert parse_identify_mapping(["user_id=id", "user_properties=a, b", "notes="]) == {
        "user_id": "id", "user_properties": ["a", "b"], "notes": None}
    assert parse_identify_mapping([]) is None
