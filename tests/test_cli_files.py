"""The command line as a newcomer meets it (issue 17, items 5, 6, 11).

Output files are named after the input file, extension included, and the command,
so two inputs in one folder never overwrite each other's file; the exit codes are
the README's; times in other formats are read with --time-format / --dayfirst.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from amp_notebook import __version__
from amp_notebook.cli import EXIT_CODES, main
from amp_notebook.demo import DEMO_MAPPING, INVALID_ROWS, sample_events
from amp_notebook.sandbox import Sandbox

PROPS = "event_properties=" + ",".join(DEMO_MAPPING["event_properties"])  # type: ignore[arg-type]
README = Path(__file__).resolve().parents[1] / "README.md"
KEY = "test-key-cli-files"


def _two_inputs(folder: Path) -> tuple[Path, Path]:
    frame = sample_events(40, seed=3)  # a few rows planted invalid
    parquet, jsonl = folder / "events.parquet", folder / "events.jsonl"
    frame.to_parquet(parquet, index=False)
    frame.to_json(jsonl, orient="records", lines=True, date_format="iso")
    return parquet, jsonl


def test_two_inputs_in_one_folder_keep_their_own_files(tmp_path: Path, capsys) -> None:
    parquet, jsonl = _two_inputs(tmp_path)
    for path in (parquet, jsonl):
        assert main(["validate", str(path), "--map", PROPS]) == 1
        assert main(["upload", str(path), "--map", PROPS, "--dry-run", "--no-progress"]) == 1
    written = sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".csv")
    assert written == [
        "events.jsonl.upload-not-ingested.csv",
        "events.jsonl.validate-errors.csv",
        "events.parquet.upload-not-ingested.csv",
        "events.parquet.validate-errors.csv",
    ]
    for name in written:
        rows = pd.read_csv(tmp_path / name)
        assert len(rows) == len(INVALID_ROWS), name
    out = capsys.readouterr().out
    assert "events.parquet.validate-errors.csv" in out and "with errors" in out


def test_only_skipped_rows_exit_1_as_the_readme_says(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AMPLITUDE_API_KEY", KEY)
    parquet, _ = _two_inputs(tmp_path)
    with Sandbox() as sb:
        code = main(["upload", str(parquet), "--map", PROPS, "--endpoint", sb.http_url, "--no-progress"])
    assert code == 1  # rows skipped as invalid were not ingested
    rows = pd.read_csv(tmp_path / "events.parquet.upload-not-ingested.csv")
    assert set(rows["_amplitude_status"]) == {"skipped"}


def test_readme_states_the_exit_codes_of_the_cli() -> None:
    text = " ".join(README.read_text().split())
    for line in EXIT_CODES:
        assert line in text, line


def test_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"amp-notebook {__version__}"


def _times_csv(folder: Path) -> Path:
    path = folder / "export.csv"
    pd.DataFrame({
        "User ID": ["user-00001", "user-00002", "user-00003", "user-00004"],
        "Event Name": ["Open", "Open", "Open", "Open"],
        "time": ["2026-03-04T10:00:00Z", "2026-03-04 10:00", "03/04/2026 10:00", "13/04/2026 10:00"],
    }).to_csv(path, index=False)
    return path


def test_times_in_another_format_point_at_the_flags(tmp_path: Path, capsys) -> None:
    assert main(["validate", str(_times_csv(tmp_path))]) == 1
    out = capsys.readouterr().out
    assert "time_invalid" in out and "--dayfirst" in out and "--time-format" in out


@pytest.mark.parametrize(
    ("flags", "third"),
    [
        (["--dayfirst"], "2026-04-03T10:00:00+02:00"),
        (["--time-format", "%m/%d/%Y %H:%M"], "2026-03-04T10:00:00+01:00"),
    ],
)
def test_time_format_flags(tmp_path: Path, monkeypatch, flags: list[str], third: str) -> None:
    monkeypatch.setenv("AMPLITUDE_API_KEY", KEY)
    path = _times_csv(tmp_path)
    if flags[0] == "--time-format":  # the day-first row does not fit the format: reported
        assert main(["validate", str(path), "--tz", "Europe/Berlin", *flags]) == 1
    else:
        assert main(["validate", str(path), "--tz", "Europe/Berlin", *flags]) == 0
    with Sandbox() as sb:
        main(["upload", str(path), "--tz", "Europe/Berlin", "--endpoint", sb.url, "--no-progress", *flags])
        times = {e["user_id"]: e["time"] for e in sb.ingested}
    assert times["user-00001"] == pd.Timestamp("2026-03-04T10:00:00Z").value // 10**6
    assert times["user-00002"] == pd.Timestamp("2026-03-04T10:00:00+01:00").value // 10**6
    assert times["user-00003"] == pd.Timestamp(third).value // 10**6
    # The written file shows the rows as they were in the input, not rewritten.
    for name in ("export.csv.validate-errors.csv", "export.csv.upload-not-ingested.csv"):
        if (tmp_path / name).exists():
            assert "13/04/2026 10:00" in (tmp_path / name).read_text()


def test_missing_time_flag(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    pd.DataFrame({"user_id": ["user-00001", "user-00002"], "event_type": ["A", "B"],
                  "time": ["2026-03-04T10:00:00Z", None]}).to_csv(path, index=False)
    assert main(["validate", str(path)]) == 1
    assert main(["validate", str(path), "--missing-time", "upload_time"]) == 0
