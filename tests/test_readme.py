"""The README's code runs as written (issue 17, items 3, 5 and 9).

Every ```python block runs, in order, in one namespace, in an empty folder, with no
API key in the environment (the README's uploads go to the local sandbox). Every
``amp-notebook`` command of the ```bash blocks runs too, on input files made here
(the user's ``events.csv`` / ``events.parquet``); install and development commands
(pip, pytest, ruff, .ci/run, benchmarks) are what CI itself runs, and are listed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from amp_notebook.demo import sample_events

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
# Commands the README shows that are not run here: CI runs them (installing, testing, linting).
NOT_RUN = ("python -m pip install", "pip install", "pytest", "ruff check", "bash .ci/run",
           "python benchmarks/", "jupyter lab", "mypy")


def _blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README) if lang == language]


def test_python_blocks_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMPLITUDE_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    blocks = _blocks("python")
    assert len(blocks) >= 3
    namespace: dict[str, object] = {"__name__": "__readme__"}
    try:
        for i, code in enumerate(blocks):
            if "import dask" in code and importlib.util.find_spec("dask") is None:
                continue  # the Dask block needs the dask extra (CI's pandas-3 pass has it)
            try:
                exec(compile(code, f"README.md python block {i + 1}", "exec"), namespace)
            except Exception as exc:  # say which block, with the code
                raise AssertionError(f"README python block {i + 1} failed: {exc!r}\n{code}") from exc
    finally:
        for value in namespace.values():  # sandboxes left running by the snippets
            stop = getattr(value, "stop", None)
            if type(value).__name__ == "Sandbox" and callable(stop):
                stop()


def test_quickstart_comments_tell_the_truth() -> None:
    # The comment after to_events shows the event the quickstart's first row becomes.
    quickstart = _blocks("python")[0]
    shown = re.search(r"'time': (\d+)", quickstart)
    assert shown is not None
    assert int(shown.group(1)) == pd.Timestamp("2026-11-01 10:00", tz="UTC").value // 10**6


def _commands() -> list[str]:
    commands = []
    for body in _blocks("bash"):
        for line in body.splitlines():
            line = line.split("  #", 1)[0].strip()
            commands.extend(part.strip() for part in line.split("&&") if part.strip())
    return commands


def _user_files(folder: Path) -> None:
    frame = sample_events(50, seed=5).rename(columns={"user_id": "uid"}).drop(columns="event_type")
    frame.to_csv(folder / "events.csv", index=False)
    sample_events(50, seed=6).to_parquet(folder / "events.parquet", index=False)
    orders = sample_events(50, seed=7, invalid=False)
    orders.assign(order_id=range(1001, 1051)).to_csv(folder / "orders.csv", index=False)
    # One row per user (group) for identify / group-identify.
    pd.DataFrame({"id": ["user-00001", "user-00002"], "plan": ["pro", "team"], "logins": [3, 1]}).to_csv(
        folder / "users.csv", index=False)
    pd.DataFrame({"org_id": ["org-001", "org-002"], "seats": [120, 15]}).to_parquet(
        folder / "accounts.parquet", index=False)


@pytest.mark.slow
def test_command_lines_run_as_written(tmp_path: Path) -> None:
    _user_files(tmp_path)
    exe = Path(sys.executable).with_name("amp-notebook")
    ran = []
    for command in _commands():
        if command.startswith(NOT_RUN):
            continue
        words = shlex.split(command)
        env = {k: v for k, v in os.environ.items() if k != "AMPLITUDE_API_KEY"}
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        assert words[0] == "amp-notebook", f"a README command this test does not know: {command!r}"
        argv = [str(exe), *words[1:]]
        if words[1] == "sandbox":  # serves until stopped: start it, read its URL, stop it
            with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path) as proc:
                assert proc.stdout is not None
                first = proc.stdout.readline()
                proc.terminate()
                assert proc.wait(timeout=30) == 0
            assert first.startswith("Amplitude sandbox: http://127.0.0.1:"), first
        else:
            done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
            # 0 or 1 (some rows not ingested), never a usage error or a traceback
            assert done.returncode in (0, 1), (command, done.stdout, done.stderr)
            assert "Traceback" not in done.stderr, (command, done.stderr)
        ran.append(words[1])
    assert {"demo", "validate", "upload", "sandbox", "identify", "group-identify"} <= set(ran)


def test_every_extra_the_readme_installs_exists() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = re.findall(r'pip install [^\n`]*?"\.\[([\w,]+)\]"', README)
    assert named, "the README installs no extra?"
    for group in named:
        for extra in group.split(","):
            assert extra in extras, extra
    assert any("jupyterlab" in dep for dep in extras["lab"])


def test_how_to_open_the_notebooks_locally_sits_by_the_binder_badge() -> None:
    head = README.split("## ", 1)[0]  # everything before the first section
    assert "mybinder.org" in head
    assert 'pip install -e ".[lab,dask]"' in head and "jupyter lab notebooks/" in head  # 08 needs dask


def test_the_readme_resends_by_position() -> None:
    assert "result.failed.index" not in README
    assert "to_resend()" in README and "duplicate_index" in README
