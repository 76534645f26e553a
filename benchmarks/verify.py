"""result.verify() on a 1,000,000-row upload against the sandbox's Export API: seconds and peak memory.

    python benchmarks/verify.py                  # 1M rows, about 2 minutes in all
    python benchmarks/verify.py --rows 200000

Set-up (not timed): a sandbox in a process of its own (``python -m amp_notebook.sandbox
--keep-events --export-delay 0 --p-lose 0.001``: it keeps the events, serves their
export at once and silently loses 1 in 1,000), and an upload of ``event_frame(rows)``
(rows // 20 devices) to it with pacing off on both sides, to get there quickly.

Measured, side by side, each after a ``gc.collect()``, RSS sampled every 5 ms:

1. ``result.verify()`` with its defaults: re-encode the ingested rows for their
   insert_ids, download the export of the upload's hours (streamed to a temporary
   file), read it member by member and match every row. The figure includes the
   sandbox building the zip, as Amplitude's time would be included for a user.
2. the download alone (``httpx`` streaming the same export to /dev/null): the
   sandbox's and the wire's share of (1).
3. re-encoding alone (``Expected.from_events`` over the ingested rows).

Checks before printing: the rows verify calls missing are exactly the events the
sandbox says it lost (``GET /_sandbox/stats``: ``events_lost``). Targets: peak RSS
above the RSS before verify < 500 MB (the export is streamed, so memory must not
follow the export's size), and the missing rows exact. Exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from memory import MB, Sampler, rss

TARGET_MB = 500
KEY, SECRET = "bench-api-key-0000", "bench-secret-key-0000"


def timed(fn):  # type: ignore[no-untyped-def]
    gc.collect()
    before = rss()
    sampler = Sampler()
    sampler.start()
    started = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - started
    peak = sampler.stop()
    return value, seconds, (peak - before) / MB


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--p-lose", type=float, default=0.001)
    a = p.parse_args()

    from _frames import event_frame

    import amp_notebook as amp
    from amp_notebook import Pacing, RetryPolicy
    from amp_notebook._encoding import iter_events
    from amp_notebook._verify import Expected

    print(f"{a.rows:,} rows; load average {os.getloadavg()[0]:.1f}", flush=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "amp_notebook.sandbox", "--port", "0", "--device-eps", "1e9",
         "--batch-device-eps", "1e9", "--keep-events", "--export-delay", "0", "--p-lose", str(a.p_lose),
         "--export-events-per-file", "50000"],
        stdout=subprocess.PIPE, text=True,
    )
    assert server.stdout is not None
    base = server.stdout.readline().strip()
    try:
        df = event_frame(a.rows)
        started = time.perf_counter()
        result = amp.upload(df, api_key=KEY, endpoint=base + "/2/httpapi", progress=False,
                            pacing=Pacing(device_eps=1e9), retry=RetryPolicy.fast())
        print(f"  set-up: uploaded {result.ingested_count:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
        stats = httpx.get(base + "/_sandbox/stats").json()
        lost = stats.get("events_lost", 0)

        report, verify_s, verify_mb = timed(lambda: result.verify(
            SECRET, api_key=KEY, export_endpoint=base + "/api/2/export", export_delay_s=0))
        print(f"  verify: {verify_s:.1f} s, {verify_mb:,.0f} MB above", flush=True)

        hours = report.export.hours.params()

        def download() -> int:
            n = 0
            with httpx.stream("GET", base + "/api/2/export", params=hours, auth=(KEY, SECRET),
                              timeout=600) as r:
                for chunk in r.iter_bytes(1 << 20):
                    n += len(chunk)
            return n

        nbytes, download_s, download_mb = timed(download)
        positions = result.ledger.positions(1)
        sent = result.sent
        assert sent is not None
        _, encode_s, encode_mb = timed(lambda: Expected.from_events(
            positions, iter_events(df, sent.mapping, sent.options, positions=positions)))
    finally:
        server.terminate()
        server.wait(10)

    exact = report.missing_count == lost and report.landed_count == result.ingested_count - lost
    fits = verify_mb < TARGET_MB
    print()
    print(f"{'':34} {'seconds':>8} {'MB above':>9}")
    print(f"{'(1) result.verify()':34} {verify_s:>8.1f} {verify_mb:>9,.0f}   < {TARGET_MB} MB: {'PASS' if fits else 'MISS'}")
    print(f"{'(2) download alone':34} {download_s:>8.1f} {download_mb:>9,.0f}   {nbytes / MB:,.0f} MB zip")
    print(f"{'(3) re-encode alone':34} {encode_s:>8.1f} {encode_mb:>9,.0f}")
    print(f"rows verified {report.verified_count:,}: landed {report.landed_count:,}, missing "
          f"{report.missing_count:,}; the sandbox lost {lost:,}: {'PASS' if exact else 'MISS'}")
    print(f"export: {report.export.events:,} events in {report.export.files} files, "
          f"{report.export.requests} request(s); {a.rows / verify_s:,.0f} rows/s verified")
    return 0 if exact and fits else 1


if __name__ == "__main__":
    sys.exit(main())
