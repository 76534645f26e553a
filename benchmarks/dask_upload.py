"""The Dask path against the pandas path: 2,000,000 events over 500,000 devices, in one run.

    python benchmarks/dask_upload.py                   # about 6 minutes on 2 CPUs
    python benchmarks/dask_upload.py --events 200000 --devices 50000 --one-worker

The frame: ``--events`` rows spread evenly over ``--devices`` devices (4 events a
device by default; each device one user), five event properties, in time order
(``_frames.event_frame``), written once to a parquet dataset of ``--partitions``
files before any timing. Every contender sends to a fresh ``benchmarks/_sink.py``
process on 127.0.0.1 (counts events and distinct insert_ids, answers 200), with
default settings (default pacing: each device within Amplitude's documented
budget), and the sink must show every event exactly once before a figure counts.

- P (pandas): ``pd.read_parquet`` (not timed), then ``df.amplitude.upload(...)``,
  timed from the call to its return.
- D2 (Dask, 2 workers): ``LocalCluster(n_workers=2, threads_per_worker=1)`` started
  before the timing; ``dd.read_parquet(path).amplitude.upload(...)`` timed from the
  call to its return: reading the files on the workers, routing and the shuffle by
  device, each partition's upload, the merged result. What a user gets.
- D1 (``--one-worker``): the same on one worker: Dask's own overhead against P.
- Shuffle alone: routing and the shuffle by device, persisted, on the D2 cluster
  (the cost ``assume_partitioned=True`` saves).

Printed: seconds, events/s, CPU seconds of this process (the pandas upload; for
Dask the driver and the scheduler), of the workers and of the sink, the load
average before and after. CPU seconds are much less sensitive to other load on
the machine than wall-clock figures: with every core busy, two workers cannot
go faster than one. Target: D2 / P events per second >= 1.5x. On 2 CPUs the
sink needs part of one, so about 1.8x is the ceiling here (the research note's
plan, shared/notes/scale-out.md section 5); with more cores expect about 0.8x per
worker. Splitting the devices also shrinks each Scheduler's state, so measure,
do not assume.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd
from _frames import even_counts, event_frame
from upload import ServerProcess, check, cpu_s

KEY = "bench-key-0123456789abcdef"
TARGET_RATIO = 1.5


def write_parquet(events: int, devices: int, partitions: int, where: Path) -> int:
    df = event_frame(events, device_counts=even_counts(events, devices), seed=1)
    step = -(-len(df) // partitions)
    for i, start in enumerate(range(0, len(df), step)):
        df.iloc[start : start + step].to_parquet(where / f"part-{i:03d}.parquet", index=False)
    return len(df)


def warm_up(path: Path, client: Any | None) -> None:
    """Imports and first calls out of the timings (an in-process sandbox, 200 rows)."""
    from amp_notebook.sandbox import Sandbox

    small = pd.read_parquet(next(path.glob("*.parquet"))).head(200)
    with Sandbox() as sb:
        small.amplitude.upload(api_key=KEY, endpoint=sb.http_url, progress=False)
        if client is not None:
            import dask.dataframe as dd

            dd.from_pandas(small, npartitions=2).amplitude.upload(api_key=KEY, endpoint=sb.http_url,
                                                                  progress=False, client=client)


def run_pandas(path: Path, n: int) -> dict[str, Any]:
    df = pd.read_parquet(path)
    with ServerProcess(sink=True) as sink:
        sink_cpu, own_cpu = cpu_s(sink.proc.pid), time.process_time()
        started = time.perf_counter()
        result = df.amplitude.upload(api_key=KEY, endpoint=sink.http_url, progress=False)
        elapsed = time.perf_counter() - started
        own_cpu = time.process_time() - own_cpu
        check(sink.wait_for(n), n, "pandas")
        assert result.ok, result
        return {"s": elapsed, "eps": n / elapsed, "sink_cpu": cpu_s(sink.proc.pid) - sink_cpu, "client_cpu": own_cpu}


def run_dask(path: Path, n: int, client: Any) -> dict[str, Any]:
    import dask.dataframe as dd

    pids = list(client.run(os.getpid).values())
    with ServerProcess(sink=True) as sink:
        sink_cpu, worker_cpu = cpu_s(sink.proc.pid), sum(cpu_s(p) for p in pids)
        own_cpu = time.process_time()
        started = time.perf_counter()
        result = dd.read_parquet(path).amplitude.upload(api_key=KEY, endpoint=sink.http_url, progress=False,
                                                        client=client)
        elapsed = time.perf_counter() - started
        own_cpu = time.process_time() - own_cpu
        check(sink.wait_for(n), n, "dask")
        assert result.ok and result.total == n, result
        return {"s": elapsed, "eps": n / elapsed, "sink_cpu": cpu_s(sink.proc.pid) - sink_cpu,
                "worker_cpu": sum(cpu_s(p) for p in pids) - worker_cpu, "client_cpu": own_cpu,
                "partitions": len(result.parts), "requests": result.requests}


def run_shuffle(path: Path, client: Any) -> float:
    import dask.dataframe as dd

    from amp_notebook._dask.route import route
    from amp_notebook._encoding import EncodeOptions
    from amp_notebook._mapping import resolve_mapping

    ddf = dd.read_parquet(path)
    started = time.perf_counter()
    _, parts = route(ddf, resolve_mapping(ddf.columns), EncodeOptions())
    persisted = client.persist(parts)
    from distributed import wait

    wait(persisted)
    elapsed = time.perf_counter() - started
    del persisted
    return elapsed


def cluster(workers: int) -> Any:
    from distributed import Client, LocalCluster

    return Client(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               worker_dashboard_address=None))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=2_000_000)
    p.add_argument("--devices", type=int, default=500_000)
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--one-worker", action="store_true", help="also run D1 (one worker)")
    a = p.parse_args(argv)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    rows: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        n = write_parquet(a.events, a.devices, a.partitions, path)
        print(f"{n:,} events over {a.devices:,} devices, {a.partitions} parquet files")
        warm_up(path, None)
        rows.append(("P  pandas", run_pandas(path, n)))
        print(f"P done: {rows[-1][1]['s']:.1f} s", flush=True)
        for workers in ([1, 2] if a.one_worker else [2]):
            with cluster(workers) as client:
                warm_up(path, client)
                rows.append((f"D{workers} Dask, {workers} worker{'s' if workers > 1 else ''}", run_dask(path, n, client)))
                print(f"D{workers} done: {rows[-1][1]['s']:.1f} s", flush=True)
                if workers == 2:
                    shuffle_s = run_shuffle(path, client)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print(f"{'run':<24} {'seconds':>8} {'events/s':>10} {'client CPU s':>13} {'worker CPU s':>13} {'sink CPU s':>11}")
    for name, r in rows:
        workers = f"{r['worker_cpu']:.1f}" if "worker_cpu" in r else "-"
        print(f"{name:<24} {r['s']:>8.1f} {r['eps']:>10,.0f} {r['client_cpu']:>13.1f} {workers:>13} "
              f"{r['sink_cpu']:>11.1f}")
    print(f"{'shuffle by device alone':<24} {shuffle_s:>8.1f}")
    by = dict(rows)
    ratio = by["D2 Dask, 2 workers"]["eps"] / by["P  pandas"]["eps"]
    print()
    print(f"D2 / P events per second: {ratio:.2f}x (target >= {TARGET_RATIO}x): {'PASS' if ratio >= TARGET_RATIO else 'MISS'}")
    if a.one_worker:
        print(f"D1 / P (Dask's overhead on one worker): {by['D1 Dask, 1 worker']['eps'] / by['P  pandas']['eps']:.2f}x")
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
