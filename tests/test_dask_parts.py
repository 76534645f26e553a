"""The Dask pieces that need no cluster: registration in both import orders, the rate
split, the key handover's refusals, the progress sum and the merged result's rendering."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from amp_notebook._config import Pacing
from amp_notebook._dask import keys
from amp_notebook._dask.progress import JobProgress
from amp_notebook._dask.rates import max_slots, split_rates
from amp_notebook._dask.result import DaskUploadResult
from amp_notebook._dask.route import ROW, add_route
from amp_notebook._dask.worker import PartResult, failed_whole
from amp_notebook._encoding import EncodeOptions
from amp_notebook._exceptions import ConfigurationError
from amp_notebook._mapping import resolve_mapping
from amp_notebook._progress import format_status
from amp_notebook._progress_model import ProgressUpdate
from amp_notebook._result import RowLedger, UploadResult

HAS_DASK = importlib.util.find_spec("dask") is not None and importlib.util.find_spec("distributed") is not None


def run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_importing_the_package_does_not_import_dask_and_works_without_it() -> None:
    assert run("""
        import sys
        import amp_notebook, pandas as pd
        assert "dask" not in sys.modules and "distributed" not in sys.modules
        print(hasattr(pd.DataFrame({"a": [1]}), "amplitude"))
    """) == "True"
    assert run("""
        import sys
        sys.modules["dask"] = None  # as if dask were not installed
        import amp_notebook, pandas as pd
        print(len(list(pd.DataFrame({"user_id": ["user-1"], "event_type": ["E"]}).amplitude.to_events())))
    """) == "1"


@pytest.mark.slow
@pytest.mark.skipif(not HAS_DASK, reason="the dask extra is not installed")
@pytest.mark.parametrize("first", ["amp_notebook", "dask.dataframe"])
def test_the_accessor_is_there_in_both_import_orders(first: str) -> None:
    second = "dask.dataframe" if first == "amp_notebook" else "amp_notebook"
    assert run(f"""
        import importlib, sys
        importlib.import_module({first!r}); importlib.import_module({second!r})
        import dask.dataframe as dd, pandas as pd
        import importlib.resources
        ddf = dd.from_pandas(pd.DataFrame({{"user_id": ["user-1"], "event_type": ["E"]}}), npartitions=1)
        spec = sys.modules["dask.dataframe"].__spec__
        loader = sys.modules["dask.dataframe"].__loader__
        assert type(spec.loader).__name__ == type(loader).__name__ == "SourceFileLoader"  # the hook left no trace
        assert not any(type(f).__name__ == "_DaskFinder" for f in sys.meta_path)
        print(type(ddf.amplitude).__name__, ddf.amplitude.mapping()["user_id"])
    """) == "DaskAmplitudeAccessor user_id"


# -- the rate split ---------------------------------------------------------------------------


def test_starter_is_split_evenly_across_the_workers_and_never_more_than_the_margin_holds() -> None:
    safety = Pacing().safety
    split = split_rates(1000, 100, threads=2, npartitions=8, events_per_request=10, safety=safety)
    assert split is not None and split.slots == 2
    # 95 % of the caps shared, for the skew between the workers' requests.
    assert (split.eps, split.rps) == pytest.approx((475, 47.5))
    assert split.describe() == ("project limits 1,000 events/s and 100 requests/s: 2 partitions at a time, "
                                "475 events/s and 47.5 requests/s each (95% of the limits, for clock skew "
                                "between workers)")
    # One request's burst must fit in each share's 5 % margin: 1000 * 0.05 / 10 = 5 slots,
    # 4 once the skew margin is taken off.
    assert max_slots(1000, 100, 10, safety) == 5
    wide = split_rates(1000, 100, threads=64, npartitions=64, events_per_request=10, safety=safety)
    assert wide is not None and wide.slots == 4 and wide.eps is not None
    assert wide.eps * wide.slots == pytest.approx(950)
    # A share's worst second is one full bucket plus a second of refill: still the share.
    for s in (wide, split):
        assert s.eps is not None
        burst = max(1.0, 10, s.eps * (1 - safety))
        assert burst + s.eps * safety <= s.eps + 1e-9
    one = split_rates(1000, 100, threads=8, npartitions=1, events_per_request=10, safety=safety)
    assert one is not None and (one.slots, one.eps) == (1, 1000)  # one process: the pandas path's own
    assert one.describe() == "project limits 1,000 events/s and 100 requests/s: one partition at a time"
    assert split_rates(None, None, threads=2, npartitions=2, events_per_request=10, safety=safety) is None


# -- the key --------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "tls://10.0.0.5:8786", "inproc://10.1.2.3/1/1",
                                     "tcp://[::1]:8786", "tcp://localhost:8786"])
def test_the_key_may_go_to_encrypted_or_loopback_addresses(address: str) -> None:
    keys.check_secure([address])


@pytest.mark.parametrize("address", ["tcp://10.0.0.5:8786", "tcp://scheduler.internal:8786", "ws://127.0.0.2.example:1"])
def test_the_key_is_never_sent_in_the_clear_off_this_machine(address: str) -> None:
    with pytest.raises(ConfigurationError, match="AMPLITUDE_API_KEY") as info:
        keys.check_secure(["tcp://127.0.0.1:1", address])
    assert address in str(info.value)


def test_key_store_waits_for_a_late_key_and_forgets_it() -> None:
    asked: list[bool] = []
    clock = [0.0]

    def sleep(s: float) -> None:
        clock[0] += s
        if clock[0] > 0.25:
            keys.put("job-1", "secret-key-0001")

    assert keys.wait_for("job-1", lambda: asked.append(True), sleep=sleep, clock=lambda: clock[0]) is not None
    assert asked == [True] and keys.stored_tokens() == ["job-1"]
    assert str(keys.get("job-1")) == "**********"
    assert keys.pop("job-1") and keys.stored_tokens() == []
    assert keys.wait_for("job-2", lambda: None, timeout_s=1, sleep=sleep, clock=lambda: clock[0]) is None


# -- routing --------------------------------------------------------------------------------------


def test_route_hash_is_the_encoders_key_and_the_same_in_every_process() -> None:
    df = pd.DataFrame({"device_id": ["d-1", None, "d-1", None], "user_id": [1.0, 77777.0, None, 77777.0],
                       "event_type": "E"})
    routed = add_route(df, resolve_mapping(df.columns), EncodeOptions(), partition_info={"number": 3})
    assert routed[ROW].tolist() == [(3 << 40) + i for i in range(4)]
    route = routed["_amp_route"].to_numpy()
    assert route[0] == route[2] and route[1] == route[3] and route[0] != route[1]
    other = run("""
        import pandas as pd, numpy as np
        print(int(pd.util.hash_array(np.asarray(["d-1", "user:77777"], dtype=object))[1]))
    """)
    assert int(other) == int(route[1])


# -- progress and the merged result ------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.updates: list[ProgressUpdate] = []
        self.closed: ProgressUpdate | None = None

    def update(self, u: ProgressUpdate) -> None:
        self.updates.append(u)

    def close(self, u: ProgressUpdate) -> None:
        self.closed = u


def test_progress_sums_the_latest_update_of_each_partition() -> None:
    sink = Recorder()
    job = JobProgress(sink, clock=lambda: 10.0)
    job.add(0, {"total": 100, "sent": 10, "ingested": 10, "requests": 1, "phase": "sending"})
    job.add(1, {"total": 50, "sent": 5, "ingested": 5, "skipped": 2, "phase": "waiting", "waiting_s": 3.0})
    job.add(0, {"total": 100, "sent": 60, "ingested": 60, "requests": 3, "phase": "sending"})
    last = sink.updates[-1]
    assert (last.total, last.sent, last.ingested, last.skipped, last.requests) == (150, 65, 65, 2, 3)
    assert last.waiting_s == 0.0  # partition 0 is sending: the job is not waiting
    job.add(0, {"total": 100, "sent": 100, "ingested": 100, "phase": "done"})
    assert job.snapshot("sending").waiting_s == 3.0
    assert job.snapshot("sending").note is None  # no partition count given: the total is what reported


def test_job_progress_estimates_the_partitions_not_started_yet() -> None:
    # Four partitions on two worker threads: the second wave starts when the first ends.
    sink = Recorder()
    job = JobProgress(sink, clock=lambda: 10.0, partitions=4)
    job.add(0, {"total": 100, "sent": 100, "ingested": 100, "phase": "done"})
    job.add(1, {"total": 80, "sent": 80, "ingested": 80, "phase": "done"})
    half = sink.updates[-1]
    assert (half.sent, half.total) == (180, 360) and f"{half.fraction:.0%}" == "50%"  # not 100%
    assert half.note == "total estimated: 2 of 4 partitions started"
    assert "total estimated: 2 of 4 partitions started" in format_status(half)
    assert "total estimated" not in " ".join(format_status(half, final=True))
    job.add(2, {"total": 90, "sent": 0, "phase": "sending"})
    job.add(3, {"total": 110, "sent": 0, "phase": "sending"})
    exact = sink.updates[-1]
    assert (exact.sent, exact.total, exact.note) == (180, 380, None)  # all reported: exact again


def part(number: int, rows: int, problems: list[tuple[int, str, str]], **kw: object) -> PartResult:
    table = pd.DataFrame(
        {ROW: [r for r, _, _ in problems], "status": [s for _, s, _ in problems],
         "reason": [why for _, _, why in problems], "message": ["m"] * len(problems)},
        index=pd.Index([f"row-{r}" for r, _, _ in problems]),
    )
    failed = sum(1 for _, s, _ in problems if s == "failed")
    skipped = sum(1 for _, s, _ in problems if s == "skipped")
    counts = {"ingested": rows - failed - skipped, "rejected": 0, "failed": failed, "skipped": skipped}
    return PartResult(number, rows, worker=f"tcp://127.0.0.1:{9000 + number % 2}", counts=counts,
                      problems=table, elapsed_s=1.0, requests=3, **kw)  # type: ignore[arg-type]


def test_a_partition_failed_whole_counts_every_row_failed_by_status() -> None:
    frame = pd.DataFrame({ROW: [4, 5, 6]}, index=pd.Index(["a", "b", "c"]))
    lost = failed_whole(2, frame, frame[ROW].to_numpy(), "partition_lost", "never reported back", error="gone")
    ok = part(0, 10, [])
    result = DaskUploadResult([lost, ok], routed=None, endpoint="HTTP V2 (US)")
    # The counts are keyed by status, the same keys as UploadResult.counts(), summed status by status.
    assert lost.counts == {"ingested": 0, "rejected": 0, "failed": 3, "skipped": 0}
    assert result.counts() == {"rows": 13, "ingested": 10, "rejected": 0, "failed": 3, "skipped": 0}
    assert list(result.counts()) == list(UploadResult(pd.DataFrame(), RowLedger(0)).counts())
    assert result.problems["reason"].tolist() == ["partition_lost"] * 3
    assert result.errors == {2: "gone"}
    assert result.partitions.loc[2, ["ingested", "failed"]].tolist() == [0, 3]


def test_merged_result_counts_reasons_and_renders_like_upload_result() -> None:
    parts = [part(1, 10, [(5, "failed", "retries_exhausted: 503")], throttled=2),
             part(0, 20, [(1, "skipped", "invalid: id_missing"), (7, "failed", "retries_exhausted: 503")])]
    result = DaskUploadResult(parts, routed=None, endpoint="HTTP V2 (US)", elapsed_s=2.0)
    assert result.counts() == {"rows": 30, "ingested": 27, "rejected": 0, "failed": 2, "skipped": 1}
    assert (result.requests, result.throttled, result.ok) == (6, 2, False)
    assert result.problems[ROW].tolist() == [1, 5, 7]  # frame order
    reasons = result.reasons()
    assert reasons.iloc[0].tolist() == ["failed", "retries_exhausted: 503", 2, "row-5, row-7"]
    text = repr(result)
    assert text.splitlines()[:4] == [
        "DaskUploadResult: 30 rows to HTTP V2 (US)",
        "  ingested 27 | rejected 0 | failed 2 | skipped 1",
        "  requests 6 | retries 0 | 429s 2",
        "  2 partitions (shuffled by device) on 2 workers",
    ]
    assert "s," not in text  # no timings in the text twin
    html = result._repr_html_()
    assert "Amplitude upload on Dask" in html and "result.to_resend().amplitude.upload(...)" in html
    assert list(result.partitions.index) == [0, 1]
    assert result.partitions.loc[1, "429s"] == 2


def test_merged_result_of_a_split_names_it() -> None:
    from amp_notebook._dask.rates import RateSplit

    split = RateSplit(2, 475.0, 47.5, 1000.0, 100.0)
    result = DaskUploadResult([part(0, 5, [])], routed=None, endpoint="x", split=split)
    assert "project limits 1,000 events/s and 100 requests/s: 2 partitions at a time" in repr(result)
    assert np.isclose(result.events_per_second, 0.0) and result.ok
