"""Backfill pre-flight: the daily quota per device/user, old events that set user
properties, in validate() (warnings) and dry runs; sample=n canary uploads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import amp_notebook as amp
from amp_notebook._mapping import resolve_mapping
from amp_notebook._preflight import DAILY_EVENTS_PER_ID, findings
from amp_notebook._validation import ValidateOptions, validate_frame
from amp_notebook.sandbox import Sandbox

NOW_MS = int(pd.Timestamp("2026-03-10", tz="UTC").timestamp() * 1000)


def warnings_of(report: amp.ValidationReport, reason: str) -> pd.DataFrame:
    f = report.failures
    return f[f["reason"] == reason]


def quota_frame() -> pd.DataFrame:
    # device-A: 15 events, shuffled in time; device-B: 5. user-1 has 12 across both devices.
    rng = np.random.default_rng(4)
    times = pd.Timestamp("2026-03-01 10:00", tz="UTC") + pd.to_timedelta(rng.permutation(20) * 600, unit="s")
    return pd.DataFrame(
        {
            "device_id": ["device-A"] * 15 + ["device-B"] * 5,
            "user_id": ["user-1"] * 12 + ["user-2"] * 8,
            "event_type": "Play",
            "time": times,
        },
        index=pd.Index([f"r{i}" for i in range(20)]),
    )


def test_rows_after_the_quota_are_named_with_the_id_and_hours() -> None:
    df = quota_frame()
    report = validate_frame(df, resolve_mapping(df.columns), ValidateOptions(now_ms=NOW_MS, daily_quota=10))
    quota = warnings_of(report, "daily_quota")
    assert set(quota["severity"]) == {"warning"}
    devices = quota[quota["key"] == "device_id"]
    # The five latest events of device-A (in time order) are the ones refused.
    a = df[df["device_id"] == "device-A"].sort_values("time")
    assert sorted(devices["row"]) == sorted(a.index[10:])
    message = devices["message"].iloc[0]
    assert "device_id 'device-A' has 15 events" in message and "at most 10 per device" in message
    first, last = a["time"].iloc[10], a["time"].iloc[-1]
    assert f"from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC" in message
    users = quota[quota["key"] == "user_id"]
    u = df[df["user_id"] == "user-1"].sort_values("time")
    assert sorted(users["row"]) == sorted(u.index[10:])
    assert "user_id 'user-1' has 12 events" in users["message"].iloc[0]
    assert report.ok  # warnings only: the rows are still sent


def test_the_quota_costs_nothing_below_it() -> None:
    df = quota_frame()
    rm = resolve_mapping(df.columns)
    assert DAILY_EVENTS_PER_ID == 500_000
    assert findings(df, rm, now_ms=NOW_MS) == []  # 20 rows cannot reach 500,000


def test_old_events_setting_user_properties_are_warned_about() -> None:
    df = pd.DataFrame(
        {
            "user_id": [f"user-{i}" for i in range(6)],
            "event_type": "Upgrade",
            "time": pd.to_datetime(["2026-01-05 00:00", "2026-03-09 12:00", "2026-01-05 00:00", "2026-01-05 00:00", None,
                                    "2026-01-06 00:00"], utc=True),
            "user_properties.plan": ["pro", "pro", None, "free", "pro", "pro"],
            "$skip_user_properties_sync": [False, False, False, True, False, None],
        }
    )
    report = amp.validate(df, now_ms=NOW_MS)
    old = warnings_of(report, "old_user_properties")
    # Row 1 is recent, 2 sets nothing, 3 skips the sync, 4 has no time (Amplitude's now).
    assert old.index.tolist() == [0, 5]
    assert old["column"].tolist() == ["user_properties.plan"] * 2
    assert old["value"].tolist() == ["2026-01-05 00:00 UTC", "2026-01-06 00:00 UTC"]
    assert "$skip_user_properties_sync" in old["message"].iloc[0] and "24 hours" in old["message"].iloc[0]
    assert warnings_of(amp.validate(df, now_ms=NOW_MS, old_event_hours=None), "old_user_properties").empty
    assert warnings_of(amp.validate(df, now_ms=NOW_MS, old_event_hours=24 * 90), "old_user_properties").empty


def test_whole_object_and_constant_user_properties() -> None:
    df = pd.DataFrame(
        {
            "user_id": ["user-1", "user-2", "user-3"],
            "event_type": "Open",
            "time": pd.to_datetime(["2025-12-01"] * 3, utc=True),
            "props": [{"plan": "pro"}, {}, None],
        }
    )
    report = amp.validate(df, {"user_properties": "props"}, now_ms=NOW_MS)
    assert warnings_of(report, "old_user_properties").index.tolist() == [0]
    report = amp.validate(df, {"user_properties": {"tier": amp.const("gold")}}, now_ms=NOW_MS)
    assert warnings_of(report, "old_user_properties").index.tolist() == [0, 1, 2]
    skip = {"user_properties": {"tier": amp.const("gold")}, "$skip_user_properties_sync": amp.const(True)}
    assert warnings_of(amp.validate(df, skip, now_ms=NOW_MS), "old_user_properties").empty


def test_dry_run_says_it_in_text_and_html() -> None:
    df = quota_frame()
    df["user_properties.plan"] = "pro"
    result = df.amplitude.upload(dry_run=True, progress=False, now_ms=NOW_MS)
    text = repr(result)
    assert "pre-flight: " in text and "old events set user_properties" in text
    assert "pre-flight" in result._repr_html_()
    assert warnings_of(result.validation, "old_user_properties").shape[0] == 20


def test_sample_uploads_a_canary_of_n_rows() -> None:
    df = quota_frame()
    with Sandbox() as sb:
        result = df.amplitude.upload(api_key="canary-key-123", endpoint=sb.http_url, sample=6, progress=False)
        assert result.ok and result.total == 6 and len(sb.ingested) == 6
        picked = list(result.frame.index)
        assert picked == [label for label in df.index if label in picked]  # frame order
        again = df.amplitude.upload(dry_run=True, sample=6, progress=False)
        assert list(again.frame.index) == picked  # the same rows each time
    assert df.amplitude.upload(dry_run=True, sample=100, progress=False).total == 20
    with pytest.raises(amp.ConfigurationError, match="sample"):
        df.amplitude.upload(dry_run=True, sample=0, progress=False)


def _backfill_frame(seed: int, n: int) -> pd.DataFrame:
    """Devices and users around a quota of 10, in shuffled time order, some ids and times missing,
    old events setting user properties: every pre-flight finding, spread over the whole frame."""
    rng = np.random.default_rng(seed)
    devices = np.array(["device-A", "device-B", "device-C", None], dtype=object)
    users = np.array(["user-1", "user-2", None], dtype=object)
    times = pd.Timestamp("2026-03-09 10:00", tz="UTC") - pd.to_timedelta(rng.permutation(n) * 1_800, unit="s")
    times = times.where(rng.random(n) > 0.05)  # a few NaT: sent as "now", counted last
    return pd.DataFrame(
        {
            "device_id": devices[rng.choice(4, n, p=[0.45, 0.3, 0.2, 0.05])],
            "user_id": users[rng.choice(3, n, p=[0.5, 0.4, 0.1])],
            "event_type": "Play",
            "time": times,
            "user_properties.plan": np.where(rng.random(n) < 0.5, "pro", None),
        }
    )


@pytest.mark.parametrize("seed", range(6))
def test_slice_boundaries_change_no_finding(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    # The pre-flight reads the frame in slices (issue 11): a device's count over the quota is
    # made of several slices' rows, none of which alone reaches it, and its rows after the
    # quota-th (in time order) lie in other slices than its first ones.
    import amp_notebook._preflight as pf
    import amp_notebook._validation as v

    df = _backfill_frame(seed, 40)
    rm = resolve_mapping(df.columns)
    options = ValidateOptions(now_ms=NOW_MS, daily_quota=10)
    whole = validate_frame(df, rm, options).failures
    assert set(whole["reason"]) >= {"daily_quota", "old_user_properties"}
    assert {"device_id", "user_id"} <= set(whole.loc[whole["reason"] == "daily_quota", "key"])
    for rows in (3, 7, 16):
        monkeypatch.setattr(pf, "SLICE_ROWS", rows)
        monkeypatch.setattr(v, "CHUNK_ROWS", rows)
        # With 3- and 7-row slices no slice alone holds more than 10 rows of any id.
        pd.testing.assert_frame_equal(whole, validate_frame(df, rm, options).failures)


def test_a_device_over_the_quota_only_across_two_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    import amp_notebook._preflight as pf

    # device-A: 6 events in each half; quota 10: over it only counted across both slices.
    df = pd.DataFrame(
        {
            "device_id": (["device-A"] * 6 + ["device-B"] * 4) * 2,
            "event_type": "Play",
            "time": pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(np.arange(20)[::-1], unit="min"),
        }
    )
    rm = resolve_mapping(df.columns)
    monkeypatch.setattr(pf, "SLICE_ROWS", 10)
    (found,) = findings(df, rm, quota=10, now_ms=NOW_MS)
    # Times run backwards: the two latest events of device-A are its first two rows.
    assert np.flatnonzero(found.mask).tolist() == [0, 1]
    assert found.messages == [found.messages[0]] * 2 and "has 12 events" in found.messages[0]


def test_a_constant_time_is_read_per_slice_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # time=const(...): every slice (and the quota's rows) reads the constant for its own rows.
    import amp_notebook._preflight as pf

    df = pd.DataFrame({"device_id": ["device-A"] * 8 + ["device-B"] * 4, "event_type": "Play",
                       "user_properties.plan": ["pro", None] * 6})
    rm = resolve_mapping(df, {"time": amp.const(int(pd.Timestamp("2026-01-01", tz="UTC").timestamp() * 1000))})
    whole = findings(df, rm, quota=5, now_ms=NOW_MS)
    monkeypatch.setattr(pf, "SLICE_ROWS", 5)
    sliced = findings(df, rm, quota=5, now_ms=NOW_MS)
    assert [f.reason for f in whole] == [f.reason for f in sliced] == ["daily_quota", "old_user_properties"]
    for a, b in zip(whole, sliced, strict=True):
        assert np.array_equal(a.mask, b.mask) and list(a.messages) == list(b.messages)
        assert (a.values is None and b.values is None) or list(a.values) == list(b.values)  # type: ignore[arg-type]
    assert np.flatnonzero(whole[1].mask).tolist() == [0, 2, 4, 6, 8, 10]


@pytest.mark.parametrize("rows", [4, 9, 100])
def test_text_ids_are_counted_as_the_ids_sent(monkeypatch: pytest.MonkeyPatch, rows: int) -> None:
    # A string-dtype id column is counted by pandas' hash of its cells (issue 11), other
    # columns by the ids as sent: the findings are the same. Blank ids are not sent, so
    # never counted, even when there are more blanks than the quota.
    import amp_notebook._preflight as pf

    cells = ["device-A"] * 7 + ["  "] * 12 + ["device-B"] * 3 + [None] * 11 + ["device-A "] * 5
    rng = np.random.default_rng(rows)
    order = rng.permutation(len(cells))
    times = pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(rng.permutation(len(cells)), unit="min")
    found = {}
    for dtype in (object, "string", "str"):
        df = pd.DataFrame({"device_id": pd.Series(np.array(cells, dtype=object)[order], dtype=dtype),
                           "user_id": "user-1", "event_type": "Play", "time": times})
        monkeypatch.setattr(pf, "SLICE_ROWS", rows)
        report = validate_frame(df, resolve_mapping(df.columns), ValidateOptions(now_ms=NOW_MS, daily_quota=6))
        found[str(dtype)] = warnings_of(report, "daily_quota")[["key", "message"]]
    first = found.pop(str(object))
    for other in found.values():
        pd.testing.assert_frame_equal(first, other)
    # device-A has 7 events, 'device-A ' (a space: another id) 5, the blanks none; user-1 all 38.
    by_key = first.groupby("key").size().to_dict()
    assert by_key == {"device_id": 1, "user_id": 32}
    assert "device_id 'device-A' has 7 events" in first[first["key"] == "device_id"]["message"].iloc[0]
