"""Peak memory of an upload, above the frame's own size, at several frame sizes side by side.

    python benchmarks/memory.py                              # 1M, 2M over 2M users, 10M rows
    python benchmarks/memory.py --rows 1000000               # one size (~20 s)
    python benchmarks/memory.py --rows 2000000:users         # 2M events, each of its own user
    python benchmarks/memory.py --rows 1000000,10000000 --dry-run

Each size runs in a fresh process of its own (so one size's freed memory cannot
hide the next one's), uploading to a sandbox in yet another process
(``python -m amp_notebook.sandbox``, no faults, no throttling; it keeps no
events). The client paces as it does for users (HTTP V2: 30 events/s per device
over 30 s). The frames have ``rows // 20`` devices spread at random (500,000
devices at 10M rows: few events per device, each device's events far apart);
``N:users`` is N events with no device_id, each of its own user (issue 11: a
real export has about as many partitions as users).

Before the upload, what building the frame freed is given back to the system
(``malloc_trim``, Arrow's pool), so the "before" RSS is the frame and the
interpreter, not heap left over. RSS is sampled from /proc/self/statm every 5 ms
by a background thread. Printed
per size: the frame's size (``memory_usage(deep=True)``), RSS before the upload
(frame built), the peak during it, and peak minus before = what the upload itself
needs. Targets: under 500 MB at every size (issue 7: a bound that does not grow
with the frame); at most 250 MB for 2,000,000 events over 2,000,000 users (issue 11). ``--dry-run`` validates, encodes and batches without
sending. Exits 1 when a size misses the target.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024
TARGET_MB = 500
TARGET_USERS_MB = 250  # N events over N users (issue 11)


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class Sampler(threading.Thread):
    def __init__(self, every_s: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.every_s = every_s
        self.peak = rss()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, rss())
            time.sleep(self.every_s)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        self.peak = max(self.peak, rss())
        return self.peak


def release_free_memory() -> None:
    """Give back what building the frame freed (the C heap and Arrow's pool keep it), so that
    the upload cannot hide its own needs in memory that only looks used before it starts."""
    import contextlib
    import ctypes

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def frame(rows: int, users: bool) -> Any:
    import numpy as np
    from _frames import event_frame

    if not users:
        return event_frame(rows)
    df = event_frame(rows, device_counts=np.ones(rows, dtype=np.int64))
    df["user_id"] = df["device_id"].str.replace("device", "user", regex=False)
    return df.drop(columns="device_id")


def measure(rows: int, users: bool, dry_run: bool, concurrency: int) -> dict[str, object]:
    """One size, in this process: build the frame, upload it, return the figures."""
    import amp_notebook as amp
    from amp_notebook import RetryPolicy

    server = None
    endpoint = None
    if not dry_run:
        server = subprocess.Popen(
            [sys.executable, "-m", "amp_notebook.sandbox", "--port", "0",
             "--device-eps", "1e9", "--batch-device-eps", "1e9"],
            stdout=subprocess.PIPE, text=True,
        )
        assert server.stdout is not None
        endpoint = server.stdout.readline().strip() + "/2/httpapi"
    try:
        df = frame(rows, users)
        partitions = int(df["device_id" if "device_id" in df else "user_id"].nunique())
        frame_bytes = int(df.memory_usage(deep=True).sum())
        release_free_memory()
        before = rss()
        sampler = Sampler()
        sampler.start()
        started = time.perf_counter()
        result = amp.upload(
            df, api_key="memory-key-00000", endpoint=endpoint, dry_run=dry_run, progress=False,
            concurrency=concurrency, retry=RetryPolicy.fast(),
        )
        elapsed = time.perf_counter() - started
        peak = sampler.stop()
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    return {
        "rows": rows, "users": users, "partitions": partitions, "counts": result.counts(), "frame_mb": frame_bytes / MB, "before_mb": before / MB,
        "peak_mb": peak / MB, "above_mb": (peak - before) / MB, "seconds": elapsed,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="1000000,2000000:users,10000000",
                   help="comma-separated frame sizes; N:users = N events over N users")
    p.add_argument("--dry-run", action="store_true", help="validate, encode and batch; send nothing")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one size, print JSON
    a = p.parse_args()
    if a.one is not None:
        rows, _, kind = a.one.partition(":")
        print(json.dumps(measure(int(rows), kind == "users", a.dry_run, a.concurrency)))
        return 0

    sizes = [s.replace("_", "").strip() for s in a.rows.split(",") if s.strip()]
    mode = "dry run (validate + encode + batch, nothing sent)" if a.dry_run else "upload to a sandbox process"
    print(f"mode: {mode}; load average {os.getloadavg()[0]:.1f}", flush=True)
    figures = []
    for rows in sizes:
        cmd = [sys.executable, __file__, "--one", rows, "--concurrency", str(a.concurrency)]
        if a.dry_run:
            cmd.append("--dry-run")
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        fig = json.loads(out.strip().splitlines()[-1])
        figures.append(fig)
        c = fig["counts"]
        print(f"  {fig['rows']:>12,} rows over {fig['partitions']:,} {'users' if fig['users'] else 'devices'}: "
              f"{fig['above_mb']:,.0f} MB above the frame, {fig['seconds']:.1f} s, "
              f"ingested {c['ingested']:,} of {c['rows']:,}", flush=True)

    print()
    print(f"{'rows':>12} {'partitions':>17} {'frame':>9} {'rss before':>11} {'rss peak':>9} {'peak-before':>12} "
          f"{'time':>8}  target")
    ok = True
    for fig in figures:
        target = TARGET_USERS_MB if fig["users"] else TARGET_MB
        passed = fig["above_mb"] <= target
        c = fig["counts"]
        settled = c["ingested"] + c["rejected"] + c["failed"] + c["skipped"] == c["rows"]
        ok = ok and passed and settled
        kind = "users" if fig["users"] else "devices"
        print(f"{fig['rows']:>12,} {fig['partitions']:>9,} {kind:<7} {fig['frame_mb']:>6,.0f} MB "
              f"{fig['before_mb']:>8,.0f} MB {fig['peak_mb']:>6,.0f} MB {fig['above_mb']:>9,.0f} MB "
              f"{fig['seconds']:>7.1f}s  <= {target} MB: {'PASS' if passed else 'MISS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
