"""Peak memory of an upload, above the frame's own size.

    python benchmarks/memory.py --rows 1000000
    python benchmarks/memory.py --rows 10000000 [--dry-run]

The sandbox runs in another process (``python -m amp_notebook.sandbox``, no faults,
no event storage); pacing is off (device and project rates out of reach). RSS is
sampled from /proc/self/statm every 5 ms by a background thread. Printed: the
frame's size (``memory_usage(deep=True)``), RSS before the upload (frame built),
the peak during it, and peak minus before = what the upload itself needs (target:
under 500 MB). ``--dry-run`` validates, encodes and batches without sending.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _frames import event_frame

import amp_notebook as amp
from amp_notebook import RetryPolicy
from amp_notebook._config import Pacing

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--dry-run", action="store_true", help="validate, encode and batch; send nothing")
    p.add_argument("--concurrency", type=int, default=8)
    a = p.parse_args()

    server = None
    endpoint = None
    if not a.dry_run:
        server = subprocess.Popen(
            [sys.executable, "-m", "amp_notebook.sandbox", "--port", "0",
             "--device-eps", "1e9", "--batch-device-eps", "1e9"],
            stdout=subprocess.PIPE, text=True,
        )
        assert server.stdout is not None
        endpoint = server.stdout.readline().strip() + "/2/httpapi"
    try:
        df = event_frame(a.rows)
        frame_bytes = int(df.memory_usage(deep=True).sum())
        import gc

        gc.collect()
        before = rss()
        sampler = Sampler()
        sampler.start()
        started = time.perf_counter()
        result = amp.upload(
            df, api_key="memory-key-00000", endpoint=endpoint, dry_run=a.dry_run, progress=False,
            concurrency=a.concurrency, pacing=Pacing(device_eps=1e9, window_s=1.0),
            retry=RetryPolicy.fast(),
        )
        elapsed = time.perf_counter() - started
        peak = sampler.stop()
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    mode = "dry_run (validate+encode+batch, nothing sent)" if a.dry_run else "upload to sandbox process"
    c = result.counts()
    print(f"rows            {a.rows:,}  mode: {mode}")
    print(f"outcome         {c}")
    print(f"frame           {frame_bytes / MB:,.0f} MB (memory_usage deep)")
    print(f"rss before      {before / MB:,.0f} MB")
    print(f"rss peak        {peak / MB:,.0f} MB")
    print(f"peak - before   {(peak - before) / MB:,.0f} MB   (target < 500 MB)")
    print(f"time            {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
