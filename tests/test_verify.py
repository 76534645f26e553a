"""result.verify() against the sandbox server: silent loss found row by row, incomplete
exports as errors, ranges over hours and a day boundary, the EU endpoint, odd indexes."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import numpy as np
import pandas as pd
import pytest

import amp_notebook as amp
from amp_notebook import ExportError, RetryPolicy
from amp_notebook._verify_report import NOT_EXPORTED, NOT_EXPORTED_YET, OTHER_IDS
from amp_notebook.sandbox import Faults, Sandbox, SandboxConfig

KEY, SECRET = "api-key-9f8e7d6c", "secret-key-5b4a3928"
FAST = RetryPolicy.fast()
LATER = 4e9  # "now" for verify: long after every export is complete


def frame(n: int, *, index: pd.Index | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    df = pd.DataFrame(
        {
            "device_id": [f"device-{i % 9:04d}" for i in range(n)],
            "user_id": [None if i % 4 == 0 else f"user-{i % 13:04d}" for i in range(n)],
            "event_type": rng.choice(["Open", "Play", "Close"], n),
            "time": pd.date_range("2026-02-01", periods=n, freq="min"),
            "event_properties.n": np.arange(n),
        }
    )
    if index is not None:
        df.index = index
    return df


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    config = SandboxConfig(export_delay_s=0, export_events_per_file=50, faults=Faults(p_lose=0.1, seed=5))
    with Sandbox(config) as sb:
        yield sb


def upload(df: pd.DataFrame, sb: Sandbox, **kw: object) -> amp.UploadResult:
    kw.setdefault("endpoint", sb.http_url)
    result = df.amplitude.upload(api_key=KEY, progress=False, retry=FAST, **kw)
    assert result.ok, result
    return result


def verify(result: amp.UploadResult, sb: Sandbox, **kw: object) -> amp.VerifyReport:
    kw.setdefault("export_endpoint", sb.export_url)
    return result.verify(SECRET, api_key=KEY, retry=FAST, _now=LATER, **kw)


def lost_rows(df: pd.DataFrame, sb: Sandbox) -> list[object]:
    """The frame's labels of the rows whose events the sandbox lost (by their insert_id)."""
    sent = [e["insert_id"] for e in amp.to_events(df)]
    lost = {e["insert_id"] for e in sb.emulator.lost}
    return [label for label, iid in zip(df.index, sent, strict=True) if iid in lost]


def test_silent_loss_names_exactly_the_lost_rows_then_a_resend_lands(sandbox: Sandbox) -> None:
    labels = pd.Index([f"row-{i:03d}" for i in np.random.default_rng(1).permutation(300)], name="label")
    df = frame(300, index=labels)
    result = upload(df, sandbox)
    report = verify(result, sandbox)
    expected = lost_rows(df, sandbox)
    assert 10 < len(expected) < 60  # about 1 in 10
    assert report.verified_count == 300
    assert report.missing_count == len(expected) and report.landed_count == 300 - len(expected)
    assert list(report.missing.index) == expected  # the frame's own labels, in frame order
    assert set(report.missing["_amplitude_reason"]) == {NOT_EXPORTED}
    pd.testing.assert_frame_equal(report.to_resend(), df.loc[expected])
    assert not report.ok and report.extra_count == 0
    assert report.rows.loc[expected, "landed"].eq(False).all()
    # Resend what is missing (the loss switched off), verify again: everything is there.
    sandbox.configure(faults=Faults())
    upload(report.to_resend(), sandbox)
    again = verify(result, sandbox)
    assert again.ok and again.landed_count == 300 and again.missing.empty


def test_repeated_index_labels_and_duplicate_rows(sandbox: Sandbox) -> None:
    df = frame(120, index=pd.Index([i // 3 for i in range(120)]))  # each label three times
    df = pd.concat([df, df.iloc[:5]])  # five exact duplicates: one event each in Amplitude
    result = upload(df, sandbox)
    report = verify(result, sandbox)
    lost = {e["insert_id"] for e in sandbox.emulator.lost}
    sent = [e["insert_id"] for e in amp.to_events(df)]
    want = [p for p, iid in enumerate(sent) if iid in lost]
    assert report.missing_positions.tolist() == want
    assert len(report.to_resend()) == len(want)  # by position, not by the repeated labels


def test_incomplete_exports_are_errors_not_missing_rows(sandbox: Sandbox) -> None:
    result = upload(frame(40), sandbox)
    sandbox.configure(export_truncate=True)
    with pytest.raises(ExportError, match="not a complete zip"):
        verify(result, sandbox)
    sandbox.configure(export_truncate=False, export_504_over_hours=0)
    with pytest.raises(ExportError, match="504"):
        verify(result, sandbox)


class StepClock:
    """A clock that moves ``step`` seconds each time it is read."""

    def __init__(self, start: float, step: float) -> None:
        self.now, self.step = start, step

    def __call__(self) -> float:
        now = self.now
        self.now += self.step
        return now


def test_an_upload_over_several_hours_and_a_day_boundary() -> None:
    clock = StepClock(datetime(2026, 2, 1, 21, 40, tzinfo=timezone.utc).timestamp(), 15 * 60)
    config = SandboxConfig(export_delay_s=0, faults=Faults(p_lose=0.05, seed=3), export_504_over_hours=3)
    with Sandbox(config, clock=clock) as sb:
        df = frame(200)
        result = upload(df, sb, max_events_per_request=10, concurrency=1, _wall_clock=clock)
        assert result.requests == 20
        report = verify(result, sb)
    hours = report.export.hours
    assert str(hours).startswith("2026-02-01 21:00") and hours.hours >= 6
    assert "2026-02-02" in str(hours)  # the range runs past midnight
    assert report.export.requests > 2  # halved on 504s
    assert list(report.missing.index) == lost_rows(df, sb) and report.missing_count > 0


def test_eu_upload_is_verified_against_the_eu_export_api() -> None:
    asked: list[str] = []
    with Sandbox(SandboxConfig(export_delay_s=0)) as sb:
        inner = sb.transport()

        class Recording(httpx.BaseTransport):
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                asked.append(f"{request.url.scheme}://{request.url.host}{request.url.path}")
                return inner.handle_request(request)

        result = upload(frame(30), sb, endpoint=None, region="eu", transport=sb.transport(sleep=False))
        assert result.endpoint == "HTTP V2 (EU)"
        report = result.verify(SECRET, api_key=KEY, transport=Recording(), retry=FAST, _now=LATER)
    assert report.ok and report.landed_count == 30
    assert set(asked) == {"https://analytics.eu.amplitude.com/api/2/export"}


def test_an_insert_id_exported_with_other_ids_is_extra(sandbox: Sandbox) -> None:
    df = frame(150)
    result = upload(df, sandbox)
    lost = sandbox.emulator.lost[0]
    sandbox.configure(faults=Faults())
    # Someone else's event carries that insert_id (another device).
    stranger = {"device_id": "stranger-0001", "event_type": "Open", "insert_id": lost["insert_id"]}
    assert httpx.post(sandbox.http_url, json={"api_key": KEY, "events": [stranger]}).status_code == 200
    report = verify(result, sandbox)
    sent = [e["insert_id"] for e in amp.to_events(df)]
    label = df.index[sent.index(lost["insert_id"])]
    assert report.missing.loc[label, "_amplitude_reason"] == OTHER_IDS
    assert "stranger-0001" in report.missing.loc[label, "_amplitude_message"]
    assert report.extra_count == 1
    assert report.extra.iloc[0]["row"] == label and report.extra.iloc[0]["device_id"] == "stranger-0001"


def test_asked_too_early_warns_and_says_when(sandbox: Sandbox) -> None:
    result = upload(frame(20), sandbox)
    sandbox.configure(export_delay_s=3 * 3600)  # Amplitude's delay
    with pytest.warns(UserWarning, match="verify again after"):
        report = result.verify(SECRET, api_key=KEY, export_endpoint=sandbox.export_url, retry=FAST)
    assert report.missing_count == 20 and report.export.early
    assert set(report.missing["_amplitude_reason"]) == {NOT_EXPORTED_YET}
    assert "asked early" in repr(report)
    # Told the export's real delay (the sandbox's 3 h), the same: and with 0 nothing is early.
    sandbox.configure(export_delay_s=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ready = result.verify(SECRET, api_key=KEY, export_endpoint=sandbox.export_url, retry=FAST, export_delay_s=0)
    assert not ready.export.early and ready.missing_count == len(sandbox.emulator.lost)
    assert set(ready.missing["_amplitude_reason"]) <= {NOT_EXPORTED}


def test_reprs_are_deterministic_and_escaped(sandbox: Sandbox) -> None:
    df = frame(60, index=pd.Index([f"<b>{i}</b>" for i in range(60)]))
    result = upload(df, sandbox)
    report = verify(result, sandbox)
    text = repr(report)
    assert text == repr(verify(result, sandbox))
    assert text.startswith(f"VerifyReport: {report.landed_count:,} of 60 ingested rows landed")
    assert "resend them: report.to_resend().amplitude.upload(...)" in text
    html = report._repr_html_()
    assert "<b>1</b>" not in html and "&lt;b&gt;" in html
    assert f"{report.missing_count:,}</b> missing" in html


def test_what_cannot_be_verified_says_why(sandbox: Sandbox) -> None:
    dry = frame(5).amplitude.upload(dry_run=True, progress=False)
    with pytest.raises(amp.ConfigurationError, match="dry run"):
        dry.verify(SECRET)
    df = frame(5)
    result = upload(df, sandbox)
    with pytest.raises(amp.ConfigurationError, match="custom endpoint"):
        result.verify(SECRET, api_key=KEY)
    result.frame = df.iloc[1:]  # the frame changed after the upload
    with pytest.raises(amp.ConfigurationError, match="must not change"):
        verify(result, sandbox)


def test_the_session_sandbox_is_verified_without_keys_or_urls() -> None:
    from amp_notebook import _session

    sb = Sandbox(SandboxConfig(export_delay_s=0, faults=Faults(p_lose=0.2, seed=2))).start()
    _session.use_sandbox(sb)
    try:
        df = frame(50)
        result = df.amplitude.upload(progress=False, retry=FAST)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            report = result.verify(retry=FAST)  # the sandbox's export_delay_s (0): not early
        assert list(report.missing.index) == lost_rows(df, sb)
    finally:
        _session.reset()
