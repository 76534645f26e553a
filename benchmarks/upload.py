"""Upload throughput against the sandbox server in a separate process, over loopback.

    python benchmarks/upload.py [--events 200000] [--sdk-batch 1000]
                                [--throttled-events 100000] [--device-eps 500] [--window 2]
                                [--skip-sdk] [--skip-throttled]

Three scenarios in one run, each against a fresh ``python -m amp_notebook.sandbox``
process (its counters, read from ``GET /_sandbox/stats``, must show every event):

(a) amp_notebook: ``df.amplitude.upload(...)`` of ``--events`` rows (user_id, device_id,
    event_type, time, five event properties), pacing effectively off (sandbox
    ``--device-eps 1e9``, client ``Pacing(device_eps=1e9)``). Timed from the call to its
    return: validation, time sort, encoding, batching and sending all included.
(b) the official SDK (``amplitude-analytics``): the same rows, one
    ``client.track(BaseEvent(...))`` per row (columns read with ``tolist()`` first,
    inside the timing), then ``flush()`` + ``shutdown()``, timed until the sandbox
    has counted every event. Target: (a) >= 10x (b) in events/s.
(c) throttled: ``--throttled-events`` rows over 1,000 devices with Zipf(1) counts;
    the sandbox throttles each device at ``--device-eps`` over ``--window`` seconds in
    **strict** mode (a request is refused with 429 if its own events would take the
    device over ``device_eps * window`` events in the window: every overshoot is caught,
    not only the next request); the client gets the same ``Pacing(device_eps, window_s)``.
    The lower bound is max(events / project rate, busiest device's events / device_eps),
    the project rate being (a)'s measured events/s (the sandbox has no project limit, so
    that is the fastest the pipe goes). Targets: total time <= 1.1x the bound, zero 429s.

The defaults scale Amplitude's 30 events/s over 30 s (900 events per window per
device) to 500 events/s over 2 s (1,000 per window) so that (c) takes about 30 s.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import numpy as np
import pandas as pd
from _frames import event_frame, zipf_counts

import amp_notebook  # noqa: F401  (registers df.amplitude)
from amp_notebook._config import Pacing
from amp_notebook.sandbox import Sandbox

KEY = "bench-key-0123456789abcdef"
PROPS = ["amount", "price", "plan", "is_trial", "country"]
TARGET_RATIO = 10.0
TARGET_BOUND_X = 1.1


class SandboxProcess:
    """``python -m amp_notebook.sandbox --port 0 ...`` in a child process, stopped on exit."""

    def __init__(self, *args: str) -> None:
        self.args = ["--port", "0", *args]

    def __enter__(self) -> SandboxProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "amp_notebook.sandbox", *self.args],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()  # the first line is the base URL
        if not self.url.startswith("http://"):
            self.proc.kill()
            raise RuntimeError(f"the sandbox did not start (said {self.url!r})")
        self.http_url = self.url + "/2/httpapi"
        self._http = httpx.Client(timeout=10.0)
        return self

    def stats(self) -> dict[str, int]:
        return dict(self._http.get(self.url + "/_sandbox/stats").json())

    def wait_for(self, ingested: int, timeout_s: float = 60.0) -> dict[str, int]:
        """Poll the counters until ``ingested`` events are in (or the timeout)."""
        deadline = time.monotonic() + timeout_s
        while True:
            s = self.stats()
            if s.get("events_ingested", 0) >= ingested or time.monotonic() > deadline:
                return s
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self._http.close()
        self.proc.terminate()  # SIGTERM: the sandbox stops its server and exits
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def amp_upload(df: pd.DataFrame, url: str, pacing: Pacing) -> Any:
    return df.amplitude.upload(api_key=KEY, endpoint=url, progress=False, pacing=pacing)


# -- (a) amp_notebook --------------------------------------------------------------------


def run_amp(df: pd.DataFrame) -> dict[str, Any]:
    n = len(df)
    with SandboxProcess("--device-eps", "1e9") as sb:
        gc.collect()
        c0, s0 = time.process_time(), cpu_s(sb.proc.pid)
        t0 = time.perf_counter()
        result = amp_upload(df, sb.http_url, Pacing(device_eps=1e9))
        wall = time.perf_counter() - t0
        c1, s1 = time.process_time(), cpu_s(sb.proc.pid)
        stats = sb.wait_for(n, timeout_s=10)
    check(stats, n, "amp_notebook")
    assert result.ingested_count == n, result
    return {
        "name": "amp_notebook", "events": n, "seconds": wall, "eps": n / wall, "requests": stats["requests"],
        "client_cpu": c1 - c0, "server_cpu": s1 - s0, "s429": stats.get("status_429", 0),
    }


# -- (b) the official SDK ----------------------------------------------------------------


def sdk_track_all(df: pd.DataFrame, server_url: str, flush_queue_size: int) -> None:
    from amplitude import Amplitude, BaseEvent, Config

    client = Amplitude(KEY, Config(server_url=server_url, flush_queue_size=flush_queue_size))
    # What an SDK user with a DataFrame writes: columns to Python lists, one event per row.
    users, devices, types = (df[c].tolist() for c in ("user_id", "device_id", "event_type"))
    times = (df["time"].to_numpy().astype("datetime64[ms]").astype(np.int64)).tolist()
    props = [df["event_properties." + p].tolist() for p in PROPS]
    track = client.track
    for u, d, e, t, a, pr, pl, tr, co in zip(users, devices, types, times, *props, strict=True):
        track(BaseEvent(event_type=e, user_id=u, device_id=d, time=t,
                        event_properties={"amount": a, "price": pr, "plan": pl, "is_trial": tr, "country": co}))
    client.flush()
    client.shutdown()  # flushes what is left and waits for its worker threads


def run_sdk(df: pd.DataFrame, flush_queue_size: int) -> dict[str, Any]:
    n = len(df)
    with SandboxProcess("--device-eps", "1e9") as sb:
        gc.collect()
        c0, s0 = time.process_time(), cpu_s(sb.proc.pid)
        t0 = time.perf_counter()
        sdk_track_all(df, sb.http_url, flush_queue_size)
        stats = sb.wait_for(n, timeout_s=120)
        wall = time.perf_counter() - t0
        c1, s1 = time.process_time(), cpu_s(sb.proc.pid)
    check(stats, n, "amplitude-analytics")
    return {
        "name": f"amplitude-analytics (flush_queue_size={flush_queue_size})", "events": n, "seconds": wall,
        "eps": n / wall, "requests": stats["requests"], "client_cpu": c1 - c0, "server_cpu": s1 - s0,
        "s429": stats.get("status_429", 0),
    }


def check(stats: dict[str, int], n: int, who: str) -> None:
    if stats.get("events_ingested") != n or stats.get("duplicates", 0):
        raise SystemExit(f"{who}: the sandbox counted {stats}, expected {n:,} events ingested once")


def warm_up(df: pd.DataFrame, sdk: bool) -> None:
    """One small upload per contender to an in-process sandbox: imports and first-call costs
    (lazy imports, httpx/urllib set-up) stay out of the timings, for both alike."""
    small = df.iloc[:200]
    with Sandbox() as sb:
        amp_upload(small, sb.http_url, Pacing(device_eps=1e9))
        if sdk:
            sdk_track_all(small, sb.http_url, 100)


# -- (c) throttled ---------------------------------------------------------------------------


def run_throttled(events: int, devices: int, zipf_s: float, device_eps: float, window_s: float,
                  project_eps: float | None) -> dict[str, Any]:
    counts = zipf_counts(events, devices, zipf_s)
    df = event_frame(events, device_counts=counts, seed=1)
    with SandboxProcess("--device-eps", repr(device_eps), "--window", repr(window_s), "--strict") as sb:
        gc.collect()
        t0 = time.perf_counter()
        result = amp_upload(df, sb.http_url, Pacing(device_eps=device_eps, window_s=window_s))
        wall = time.perf_counter() - t0
        stats = sb.wait_for(events, timeout_s=10)
    check(stats, events, "throttled upload")
    device_bound = counts.max() / device_eps
    project_bound = events / project_eps if project_eps else 0.0
    return {
        "events": events, "devices": devices, "busiest": int(counts.max()), "seconds": wall,
        "send_s": result.elapsed_s, "device_bound": device_bound, "project_bound": project_bound,
        "bound": max(device_bound, project_bound), "s429_server": stats.get("status_429", 0),
        "s429_client": result.throttled, "requests": stats["requests"], "retries": result.retries,
    }


# -- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--devices", type=int, default=None, help="(a)/(b) devices (default: events // 20)")
    ap.add_argument("--sdk-batch", type=int, default=1000, help="the SDK's flush_queue_size (its default: 200)")
    ap.add_argument("--throttled-events", type=int, default=100_000)
    ap.add_argument("--throttled-devices", type=int, default=1000)
    ap.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent of the per-device counts")
    ap.add_argument("--device-eps", type=float, default=500.0)
    ap.add_argument("--window", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of (a) and of (b) each; the fastest of each is reported")
    ap.add_argument("--skip-sdk", action="store_true")
    ap.add_argument("--skip-throttled", action="store_true")
    a = ap.parse_args(argv)

    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          "(other busy processes slow both contenders); pandas " + pd.__version__)
    df = event_frame(a.events, devices=a.devices)
    print(f"frame: {len(df):,} events, {df['device_id'].nunique():,} devices, "
          f"{df.shape[1]} columns (five event properties: int, float, str, bool, category)")
    warm_up(df, sdk=not a.skip_sdk)

    def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
        r = min(runs, key=lambda r: r["seconds"])
        r["runs"] = [x["seconds"] for x in runs]
        return r

    rows: list[dict[str, Any]] = []
    runs = []
    for _ in range(a.repeat):
        runs.append(run_amp(df))
        print(f"(a) amp_notebook: {runs[-1]['seconds']:.2f} s, {runs[-1]['eps']:,.0f} events/s", flush=True)
    amp = best(runs)
    rows.append(amp)
    sdk = None
    if not a.skip_sdk:
        runs = []
        for _ in range(a.repeat):
            runs.append(run_sdk(df, a.sdk_batch))
            print(f"(b) amplitude-analytics: {runs[-1]['seconds']:.2f} s, {runs[-1]['eps']:,.0f} events/s",
                  flush=True)
        sdk = best(runs)
        rows.append(sdk)
    thr = None
    if not a.skip_throttled:
        thr = run_throttled(a.throttled_events, a.throttled_devices, a.zipf, a.device_eps, a.window,
                            project_eps=amp["eps"])
        print(f"(c) throttled: {thr['seconds']:.2f} s against a bound of {thr['bound']:.2f} s")

    ok = True
    print()
    print(f"{'contender':<42}{'events':>9}{'seconds':>9}{'events/s':>11}{'requests':>10}"
          f"{'client CPU':>12}{'server CPU':>12}")
    for r in rows:
        print(f"{r['name']:<42}{r['events']:>9,}{r['seconds']:>9.2f}{r['eps']:>11,.0f}{r['requests']:>10,}"
              f"{r['client_cpu']:>11.2f}s{r['server_cpu']:>11.2f}s")
    if a.repeat > 1:
        for r in rows:
            print(f"  {r['name']}: best of " + ", ".join(f"{x:.2f}" for x in r["runs"]) + " s")
    if sdk is not None:
        ratio = amp["eps"] / sdk["eps"]
        ok &= ratio >= TARGET_RATIO
        print(f"{'ratio amp_notebook / SDK, events/s':<42}{ratio:>29.1f}x   target >= {TARGET_RATIO:g}x: "
              f"{'PASS' if ratio >= TARGET_RATIO else 'MISS'}")
        cpu = (sdk["client_cpu"] + sdk["server_cpu"]) / (amp["client_cpu"] + amp["server_cpu"])
        print(f"{'ratio of CPU seconds, client + server':<42}{cpu:>29.1f}x   (for information: "
              "less sensitive to other load)")
    if thr is not None:
        x = thr["seconds"] / thr["bound"]
        zero = thr["s429_server"] == 0 and thr["s429_client"] == 0
        ok &= x <= TARGET_BOUND_X and zero
        print()
        print(f"throttled (sandbox --strict, device_eps={a.device_eps:g}, window={a.window:g} s; "
              f"{thr['devices']:,} devices, Zipf s={a.zipf:g}, busiest {thr['busiest']:,} of {thr['events']:,} events)")
        print(f"  lower bound   max({thr['events']:,} / {amp['eps']:,.0f} = {thr['project_bound']:.2f} s, "
              f"{thr['busiest']:,} / {a.device_eps:g} = {thr['device_bound']:.2f} s) = {thr['bound']:.2f} s")
        print(f"  total time    {thr['seconds']:.2f} s (send loop {thr['send_s']:.2f} s) = {x:.3f}x the bound   "
              f"target <= {TARGET_BOUND_X:g}x: {'PASS' if x <= TARGET_BOUND_X else 'MISS'}")
        print(f"  429s          {thr['s429_server']} (server count), {thr['s429_client']} (client count), "
              f"{thr['requests']:,} requests, {thr['retries']} retries   target 0: {'PASS' if zero else 'MISS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
