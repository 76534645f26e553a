"""A refused connection on this machine fails at once; retries say what they retry (issue 17, item 7).

A sandbox that is not running (or a wrong port) used to be retried silently for a
minute under ``--no-progress`` / ``progress=False`` before the upload failed.
"""

from __future__ import annotations

import socket
import time

import pandas as pd
import pytest

import amp_notebook as amp
from amp_notebook import RetryPolicy
from amp_notebook._progress import format_status, make_sink
from amp_notebook._progress_model import ProgressUpdate
from amp_notebook.cli import main
from amp_notebook.sandbox import Sandbox

KEY = "test-key-refused"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed on exit: nothing listens there


def _frame(n: int = 5) -> pd.DataFrame:
    return pd.DataFrame({"user_id": [f"user-{i:05d}" for i in range(n)], "event_type": ["A"] * n,
                         "time": pd.date_range("2026-03-04", periods=n, freq="min")})


def test_refused_loopback_connection_fails_at_once_with_the_default_policy() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    with pytest.raises(amp.RemoteError, match="connection refused") as info:
        _frame().amplitude.upload(api_key=KEY, endpoint=url, progress=False)
    # The default policy would back off for about a minute before giving up.
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert url in message and "sandbox" in message
    result = info.value.result
    assert result.failed_count == 5 and result.retries == 0
    assert set(result.failed["_amplitude_reason"]) == {"connection_refused"}


def test_cli_refused_loopback_connection(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AMPLITUDE_API_KEY", KEY)
    path = tmp_path / "events.csv"
    _frame().to_csv(path, index=False)
    started = time.monotonic()
    code = main(["upload", str(path), "--endpoint", f"http://127.0.0.1:{_closed_port()}", "--no-progress"])
    assert code == 1 and time.monotonic() - started < 10
    assert "connection refused" in capsys.readouterr().err


def test_retries_are_announced_with_progress_off(capsys) -> None:
    with Sandbox() as sb:
        sb.fail_next(2, 503)
        result = _frame().amplitude.upload(api_key=KEY, endpoint=sb.http_url, progress=False,
                                           retry=RetryPolicy.fast())
    assert result.ingested_count == 5 and result.retries == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "retrying" in line]
    assert len(lines) == 1, err  # once per cause, not once per retry
    assert "503" in lines[0]


def test_the_progress_line_says_what_is_retried() -> None:
    u = ProgressUpdate(total=10, sent=2, retries=3, retrying="ConnectError", elapsed_s=1.0)
    assert "3 retries (last after ConnectError)" in " · ".join(format_status(u))


def test_a_quiet_sink_says_each_new_cause_once(capsys) -> None:
    sink = make_sink(False, total=10)
    for retries, cause in ((0, ""), (1, "503"), (2, "503"), (3, "ReadError")):
        sink.update(ProgressUpdate(total=10, retries=retries, retrying=cause))
    sink.close(ProgressUpdate(total=10, retries=3, retrying="ReadError", phase="done"))
    err = capsys.readouterr().err.splitlines()
    assert [line.split("after ")[1].split(" ")[0] for line in err] == ["503", "ReadError"]


def test_the_decision_is_only_for_refusals_on_this_machine() -> None:
    from amp_notebook._responses import refused_on_loopback

    assert refused_on_loopback("ConnectError", False, 3) is None  # elsewhere: retried
    assert refused_on_loopback("ReadError", True, 3) is None       # an answer cut short: retried
    assert refused_on_loopback(None, True, 3) is None
    outcome = refused_on_loopback("ConnectError", True, 3)
    assert outcome is not None and outcome.kind == "fatal"
    assert [r.index for r in outcome.failed] == [0, 1, 2]
