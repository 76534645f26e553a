"""Peak memory of an upload, above the frame's own size, at several frame sizes side by side.

    python benchmarks/memory.py                              # 1M and 10M rows (~10 min)
    python benchmarks/memory.py --rows 1000000               # one size (~20 s)
    python benchmarks/memory.py --rows 1000000,10000000 --dry-run

Each size runs in a fresh process of its own (so one size's freed memory cannot
hide the next one's), uploading to a sandbox in yet another process
(``python -m amp_notebook.sandbox``, no faults, no throttling; it keeps no
events). The client paces as it does for users (HTTP V2: 30 events/s per device
over 30 s), so it remembers every device it sent to within the last 30 s. The
frames have ``rows // 20`` devices spread at random: 500,000 devices at 10M
rows, the costly case for the device scheduler (few events per device, each
device's events far apart).

RSS is sampled from /proc/self/statm every 5 ms by a background thread. Printed
per size: the frame's size (``memory_usage(deep=True)``), RSS before the upload
(frame built), the peak during it, and peak minus before = what the upload itself
needs. Target: under 500 MB at every size (the issue asks for a bound that does
not grow with the frame). ``--dry-run`` validates, encodes and batches without
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024
TARGET_MB = 500


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


def measure(rows: int, dry_run: bool, concurrency: int) -> dict[str, object]:
    """One size, in this process: build the frame, upload it, return the figures."""
    from _frames import event_frame

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
        df = event_frame(rows)
        frame_bytes = int(df.memory_usage(deep=True).sum())
        gc.collect()
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
        "rows": rows, "counts": result.counts(), "frame_mb": frame_bytes / MB, "before_mb": before / MB,
        "peak_mb": peak / MB, "above_mb": (peak - before) / MB, "seconds": elapsed,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="1000000,10000000", help="comma-separated frame sizes")
    p.add_argument("--dry-run", action="store_true", help="validate, encode and batch; send nothing")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size, print JSON
    a = p.parse_args()
    if a.one is not None:
        print(json.dumps(measure(a.one, a.dry_run, a.concurrency)))
        return 0

    sizes = [int(s.replace("_", "")) for s in a.rows.split(",") if s.strip()]
    mode = "dry run (validate + encode + batch, nothing sent)" if a.dry_run else "upload to a sandbox process"
    print(f"mode: {mode}; load average {os.getloadavg()[0]:.1f}", flush=True)
    figures = []
    for rows in sizes:
        cmd = [sys.executable, __file__, "--one", str(rows), "--concurrency", str(a.concurrency)]
        if a.dry_run:
            cmd.append("--dry-run")
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        fig = json.loads(out.strip().splitlines()[-1])
        figures.append(fig)
        c = fig["counts"]
        print(f"  {rows:>12,} rows: {fig['above_mb']:,.0f} MB above the frame, {fig['seconds']:.1f} s, "
              f"ingested {c['ingested']:,} of {c['rows']:,}", flush=True)

    print()
    print(f"{'rows':>12} {'frame':>9} {'rss before':>11} {'rss peak':>9} {'peak-before':>12} {'time':>8}  target")
    ok = True
    for fig in figures:
        passed = fig["above_mb"] < TARGET_MB
        c = fig["counts"]
        settled = c["ingested"] + c["rejected"] + c["failed"] + c["skipped"] == c["rows"]
        ok = ok and passed and settled
        print(f"{fig['rows']:>12,} {fig['frame_mb']:>6,.0f} MB {fig['before_mb']:>8,.0f} MB "
              f"{fig['peak_mb']:>6,.0f} MB {fig['above_mb']:>9,.0f} MB {fig['seconds']:>7.1f}s  "
              f"< {TARGET_MB} MB: {'PASS' if passed else 'MISS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
