"""Preparation throughput: validate + encode + batch a large frame, no network.

    python benchmarks/prepare.py [--rows 1000000] [--chunk-rows 20000]

Prints rows/s for each stage and overall, and peak memory growth as a multiple
of the frame's own ``memory_usage(deep=True)``.

What is measured (one streaming pass, as ``upload(dry_run=True)`` does it):

- validate: ``validate_frame`` over all rows (vectorised rules -> failures table);
- encode:   time spent inside ``encode(...)`` producing EncodedChunks (JSON payloads,
  insert_id hashes, partition keys), ``chunk_rows`` rows at a time; as in an upload,
  validation hands the encoder the columns it converted (``PreparedColumns``);
- batch:    time spent in the static ``chunk(...)`` packing payloads into request-sized
  Batches (the Batches are counted and dropped, as a sender would after sending).

Memory: peak resident set size (RSS) growth over the RSS just before validation,
sampled by a background thread reading ``/proc/self/statm`` (it asks every
millisecond; the GIL lets it in about every 5 ms, ``sys.getswitchinterval()``, so
a spike shorter than that can be missed). tracemalloc is not used: it slows
allocation-heavy code several-fold and does not see Arrow buffers. RSS includes
freed-but-not-returned heap, so otherwise the figure is an upper bound of what
the pipeline holds at once.

Targets: >= 300,000 rows/s overall; peak growth <= 3x the frame.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd
from _frames import event_frame

import amp_notebook  # noqa: F401  (registers df.amplitude)
from amp_notebook._batching import Batch, chunk, envelope_size
from amp_notebook._config import Limits
from amp_notebook._encoding import EncodedChunk, EncodeOptions, encode
from amp_notebook._mapping import resolve_mapping
from amp_notebook._prepared import PreparedColumns
from amp_notebook._validation import ValidateOptions, validate_frame

TARGET_ROWS_S = 300_000
TARGET_MEMORY_X = 3.0
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * PAGE


class PeakRSS:
    """Background sampler: the highest RSS seen between start and stop."""

    def __init__(self, interval_s: float = 0.001) -> None:
        self.interval_s = interval_s
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss())
            self.samples += 1
            time.sleep(self.interval_s)

    def __enter__(self) -> PeakRSS:
        self.peak = rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


class Timed:
    """Wraps an iterator and adds up the time spent producing its items."""

    def __init__(self, it: Iterator[EncodedChunk]) -> None:
        self.it = it
        self.seconds = 0.0
        self.rows = 0

    def __iter__(self) -> Iterator[EncodedChunk]:
        while True:
            t = time.perf_counter()
            item = next(self.it, None)
            self.seconds += time.perf_counter() - t
            if item is None:
                return
            self.rows += len(item)
            yield item


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--chunk-rows", type=int, default=20_000, help="rows per EncodedChunk (upload's default)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    t = time.perf_counter()
    df = event_frame(a.rows, seed=a.seed)
    build_s = time.perf_counter() - t
    frame_bytes = int(df.memory_usage(deep=True).sum())
    print(f"frame: {len(df):,} rows x {df.shape[1]} columns, {frame_bytes / 1e6:,.1f} MB "
          f"(memory_usage deep), built in {build_s:.1f} s; pandas {pd.__version__}")
    print("dtypes: " + ", ".join(f"{c.split('.')[-1]}={d}" for c, d in df.dtypes.items()))

    rm = resolve_mapping(df.columns)
    vopts = ValidateOptions(now_ms=int(time.time() * 1000))
    eopts = EncodeOptions()
    limits = Limits()
    envelope = envelope_size(32)  # an ordinary 32-hex-digit key, no options

    gc.collect()
    base = rss()
    batches = events = oversize = 0
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        prepared = PreparedColumns(df, rm, tz=vopts.tz, time_unit=vopts.time_unit)
        report = validate_frame(df, rm, vopts, prepared)
        t1 = time.perf_counter()
        encoded = Timed(encode(df, rm, eopts, chunk_rows=a.chunk_rows, prepared=prepared))
        for item in chunk(encoded, limits, envelope):
            if isinstance(item, Batch):
                batches += 1
                events += len(item)
            else:
                oversize += 1
        t2 = time.perf_counter()
    assert report.ok, report.counts()
    assert events == len(df) and oversize == 0, (events, oversize)

    n = len(df)
    validate_s = t1 - t0
    encode_s = encoded.seconds
    batch_s = (t2 - t1) - encoded.seconds
    total_s = t2 - t0
    growth = mem.peak - base
    ratio = growth / frame_bytes
    overall = n / total_s

    def rate(s: float) -> str:
        return f"{n / s:>12,.0f}" if s > 0 else f"{'inf':>12}"

    print(f"\n{batches:,} batches of <= {limits.max_events} events / < 1 MB; {mem.samples:,} RSS samples")
    print()
    print(f"{'stage':<22}{'seconds':>9}{'rows/s':>13}   target")
    print(f"{'-' * 22}{'-' * 9}{'-' * 13}   {'-' * 28}")
    print(f"{'validate':<22}{validate_s:>9.2f}{rate(validate_s)}")
    print(f"{'encode':<22}{encode_s:>9.2f}{rate(encode_s)}")
    print(f"{'batch (static chunk)':<22}{batch_s:>9.2f}{rate(batch_s)}")
    ok_speed = overall >= TARGET_ROWS_S
    print(f"{'overall':<22}{total_s:>9.2f}{rate(total_s)}   >= {TARGET_ROWS_S:,} rows/s: "
          f"{'PASS' if ok_speed else 'MISS'}")
    ok_mem = ratio <= TARGET_MEMORY_X
    print(f"{'peak RSS growth':<22}{growth / 1e6:>8.1f}M{ratio:>12.2f}x   <= {TARGET_MEMORY_X:g}x the frame "
          f"({frame_bytes / 1e6:,.1f} MB): {'PASS' if ok_mem else 'MISS'}")
    return 0 if ok_speed and ok_mem else 1


if __name__ == "__main__":
    sys.exit(main())
