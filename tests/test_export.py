"""read_export and the export client against the sandbox: round trip value for value,
splitting, and every way an export can be incomplete (each is an error, never "no events")."""

from __future__ import annotations

import gzip
import io
import time
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

import amp_notebook as amp
from amp_notebook import ExportError, RetryPolicy
from amp_notebook._export import EXPORT_URLS, ExportFetcher, resolve_export_target
from amp_notebook._export_hours import HourRange, hour_of, to_hour
from amp_notebook._export_http import download
from amp_notebook._export_zip import iter_event_batches
from amp_notebook.sandbox import Sandbox, SandboxConfig

KEY, SECRET = "api-key-0a1b2c3d", "secret-key-4e5f6a7b"
FAST = RetryPolicy.fast()


def frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "user_id": [f"user-{i % 7:04d}" for i in range(n)],
            "device_id": [f"device-{i % 5:04d}" for i in range(n)],
            "event_type": rng.choice(["Play", "Pause"], n),
            "time": np.int64(1_772_400_000_000) + np.arange(n, dtype=np.int64) * 1000,
            "app_version": ["2.0.1"] * n,
            "carrier": ["acme"] * n,
            "price": np.full(n, 2.5),
            "quantity": np.full(n, 2, dtype=np.int64),
            "event_properties.count": np.arange(n, dtype=np.int64),
            "event_properties.ratio": np.arange(n) + 0.25,
            "event_properties.flag": np.arange(n) % 2 == 0,
            "event_properties.tags": [["a", f"t{i}"] for i in range(n)],
            "event_properties.maybe": pd.array([i if i % 3 else None for i in range(n)], dtype="Int64"),
            "user_properties.plan": [None if i % 4 == 0 else f"plan-{i % 2}" for i in range(n)],
            "groups.company": [f"company-{i % 2}" for i in range(n)],
        },
        index=pd.RangeIndex(500, 500 + n),
    )


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    config = SandboxConfig(export_delay_s=0, export_events_per_file=7, api_keys={KEY}, secret_keys={SECRET})
    with Sandbox(config) as sb:
        yield sb


def _hours_now() -> tuple[str, str]:
    now = time.time()
    # The upload was just before now: its hour is in [now - 2 min, now] (and no hour to come,
    # which would make the export "incomplete").
    return HourRange(hour_of(now - 120), hour_of(now)).params().values()  # type: ignore[return-value]


def read(sb: Sandbox, **kw: object) -> pd.DataFrame:
    start, end = _hours_now()
    kw.setdefault("export_endpoint", sb.export_url)
    kw.setdefault("retry", FAST)
    return amp.read_export(start, end, api_key=KEY, secret_key=SECRET, **kw)


def test_read_export_round_trip_value_for_value(sandbox: Sandbox) -> None:
    df = frame()
    result = df.amplitude.upload(api_key=KEY, endpoint=sandbox.http_url, progress=False, retry=FAST)
    assert result.ok
    back = read(sandbox)
    assert len(back) == len(df)
    back = back.sort_values("event_properties.count").reset_index(drop=True)
    expected = df.reset_index(drop=True)
    pd.testing.assert_frame_equal(back[list(df.columns)], expected, check_dtype=True)
    # Nothing else but the insert_id, which is what was sent.
    assert set(back.columns) - set(df.columns) == {"insert_id"}
    sent = {e["insert_id"] for e in amp.to_events(df)}
    assert set(back["insert_id"]) == sent


def test_an_export_uploads_again_as_the_same_events(sandbox: Sandbox) -> None:
    """A US -> EU move: the exported frame sent to another project stores the same events."""
    df = frame(20)
    df.amplitude.upload(api_key=KEY, endpoint=sandbox.http_url, progress=False, retry=FAST)
    back = read(sandbox)
    with Sandbox() as other:
        result = back.amplitude.upload(api_key=KEY, endpoint=other.http_url, progress=False, retry=FAST)
        assert result.ok
        def key(e: dict[str, object]) -> object:
            return e["insert_id"]
        assert sorted(other.ingested, key=key) == sorted(sandbox.ingested, key=key)


def test_long_ranges_are_split_and_504s_halved(sandbox: Sandbox) -> None:
    frame(10).amplitude.upload(api_key=KEY, endpoint=sandbox.http_url, progress=False, retry=FAST)
    now = time.time()
    hours = HourRange(hour_of(now) - 40, hour_of(now) + 1)  # 42 hours
    sandbox.configure(export_504_over_hours=8)
    fetcher = ExportFetcher(resolve_export_target(export_endpoint=sandbox.export_url), amp.ApiKey(KEY),
                            amp.SecretKey(SECRET), retry=FAST, max_hours=24)
    events = [e for batch in fetcher.batches(hours) for e in batch]
    assert len(events) == 10
    assert fetcher.stats.splits >= 4  # 24 -> 12 -> 6, and 18 -> 9 -> 4/5
    assert fetcher.stats.read.files == 2  # 10 events, 7 a file, in one hour


def test_a_504_that_persists_is_an_error(sandbox: Sandbox) -> None:
    frame(5).amplitude.upload(api_key=KEY, endpoint=sandbox.http_url, progress=False, retry=FAST)
    sandbox.configure(export_504_over_hours=0)
    with pytest.raises(ExportError, match="504") as info:
        read(sandbox)
    assert info.value.status == 504


def test_a_truncated_zip_is_an_error(sandbox: Sandbox) -> None:
    frame(30).amplitude.upload(api_key=KEY, endpoint=sandbox.http_url, progress=False, retry=FAST)
    sandbox.configure(export_truncate=True)
    with pytest.raises(ExportError, match="not a complete zip"):
        read(sandbox)


def test_an_answer_cut_short_is_retried_then_an_error() -> None:
    calls = []

    def short(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, headers={"content-length": "5000"}, stream=httpx.ByteStream(b"PK\x03\x04 short"))

    with pytest.raises(ExportError, match="cut short"):
        amp.read_export("20260301T00", api_key=KEY, secret_key=SECRET, transport=httpx.MockTransport(short),
                        retry=FAST, _now=2e9)
    assert len(calls) == FAST.attempts


def test_refused_keys_are_an_error_that_never_shows_them(sandbox: Sandbox) -> None:
    with pytest.raises(ExportError) as info:
        amp.read_export("20260301T00", api_key=KEY, secret_key="wrong-secret-1234",
                        export_endpoint=sandbox.export_url, retry=FAST)
    assert info.value.status == 401
    assert "wrong-secret-1234" not in str(info.value) and KEY not in str(info.value)


def test_no_data_is_an_empty_frame_and_an_early_call_warns(sandbox: Sandbox) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = amp.read_export("20200101T00", api_key=KEY, secret_key=SECRET, export_endpoint=sandbox.export_url)
    assert empty.empty
    with pytest.warns(UserWarning, match="may be incomplete"):
        read(sandbox)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read(sandbox, export_delay_s=0)  # the sandbox's delay: complete at once


def test_eu_region_asks_the_eu_export_api(sandbox: Sandbox) -> None:
    frame(6).amplitude.upload(api_key=KEY, endpoint=sandbox.http_url, progress=False, retry=FAST)
    seen: list[str] = []
    inner = sandbox.transport()

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(str(request.url.copy_with(query=None)))
            return inner.handle_request(request)

    start, end = _hours_now()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = amp.read_export(start, end, api_key=KEY, secret_key=SECRET, region="eu", transport=Recording())
    assert len(back) == 6
    assert seen == [EXPORT_URLS["eu"]] == ["https://analytics.eu.amplitude.com/api/2/export"]
    assert resolve_export_target("us").url == "https://amplitude.com/api/2/export"


def test_plain_http_off_loopback_is_refused() -> None:
    with pytest.raises(amp.ConfigurationError, match="Authorization header"):
        amp.read_export("20260301T00", api_key=KEY, secret_key=SECRET, export_endpoint="http://example.com/api/2/export")


def test_hours_are_read_from_many_forms() -> None:
    h = to_hour("20260301T05")
    assert to_hour("2026-03-01 05:59") == h == to_hour(pd.Timestamp("2026-03-01T06:30+01:00"))
    assert to_hour(1_772_341_200) == h
    with pytest.raises(amp.ConfigurationError):
        to_hour("yesterday-ish")


def test_download_never_keeps_the_request(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("boom", request=request)

    with httpx.Client(transport=httpx.MockTransport(refuse)) as c, (tmp_path / "zip").open("wb") as sink:
        answer = download(c, "https://x.invalid/api/2/export", HourRange(1, 1), amp.ApiKey(KEY),
                          amp.SecretKey(SECRET), sink)
    assert answer.status == 0 and "ConnectError" in (answer.error or "")
    assert KEY not in repr(answer) and SECRET not in repr(answer)


def _zip_of(members: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


def test_members_are_read_whole_or_not_at_all() -> None:
    lines = [orjson.dumps({"$insert_id": f"i{i}", "n": i}) for i in range(10)]
    two_members = gzip.compress(b"\n".join(lines[:4]) + b"\n") + gzip.compress(b"\n".join(lines[4:]))
    events = [e for b in iter_event_batches(_zip_of({"1/1_2026-03-01_0#0.json.gz": two_members}), batch_lines=3)
              for e in b]
    assert [e["n"] for e in events] == list(range(10))
    whole = gzip.compress(b"\n".join(lines))
    with pytest.raises(ExportError, match="damaged or cut short after"):
        list(iter_event_batches(_zip_of({"1/1_2026-03-01_0#0.json.gz": whole[: len(whole) - 12]})))
    with pytest.raises(ExportError, match=r"line 2 .* is not JSON"):
        list(iter_event_batches(_zip_of({"x.json.gz": gzip.compress(lines[0] + b"\n{oops\n")})))


def test_read_export_from_the_session_sandbox_needs_no_keys_and_knows_its_delay() -> None:
    from amp_notebook import _session

    sb = Sandbox(SandboxConfig(export_delay_s=0)).start()
    _session.use_sandbox(sb)
    try:
        frame(8).amplitude.upload(progress=False, retry=FAST)
        start, end = _hours_now()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            back = amp.read_export(start, end, retry=FAST)
        assert len(back) == 8
    finally:
        _session.reset()
