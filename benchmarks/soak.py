"""Soak test: N events (default 1,000,000) through a misbehaving sandbox in another process.

    python benchmarks/soak.py --events 1000000

The sandbox (``python -m amp_notebook.sandbox``) runs with every fault on: 5xx
before and after ingest, connections dropped before and after ingest, latency
spikes, per-device throttling at scaled rates, a lowered body limit (413s) and two
silenced devices. Rates are scaled (reference, "Limits": 30 events/s per device
over 30 s becomes ``--server-eps`` over 1 s) so the run takes minutes, not days.

Printed: events, faults injected (from ``GET /_sandbox/stats``), lost (rows
neither ingested nor rejected with a reason), duplicated (events the sandbox
stored beyond the distinct insert_ids the client reports ingested), rejected
(by reason), time. The run fails (exit 1) unless lost == 0 and duplicated == 0.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _frames import event_frame

import amp_notebook as amp
from amp_notebook import Pacing, RetryPolicy
from amp_notebook._encoding import EncodeOptions, encode
from amp_notebook._mapping import resolve_mapping

SILENCED = ("device-000007", "device-000011")


def _stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url + "/_sandbox/stats", timeout=10) as r:
        return dict(json.loads(r.read()))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--devices", type=int, default=400)
    p.add_argument("--server-eps", type=float, default=30.0, help="sandbox events/s per device (1 s window)")
    p.add_argument("--client-eps", type=float, default=36.0,
                   help="client pacing per device; above --server-eps so some 429s happen")
    p.add_argument("--body-limit", type=int, default=150_000, help="sandbox HTTP body limit (413 above)")
    p.add_argument("--fault-p", type=float, default=0.02, help="probability of each fault kind per request")
    p.add_argument("--spike-s", type=float, default=0.3)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()

    f = str(a.fault_p)
    cmd = [
        sys.executable, "-m", "amp_notebook.sandbox", "--port", "0",
        "--device-eps", str(a.server_eps), "--window", "1",
        "--http-body-limit", str(a.body_limit),
        "--p-500-after", f, "--p-502-after", f, "--p-504-after", f,
        "--p-503-before", str(2 * a.fault_p), "--p-drop-before", f, "--p-drop-after", f,
        "--latency-spike-p", f, "--latency-spike-s", str(a.spike_s),
        "--seed", str(a.seed),
    ]
    for d in SILENCED:
        cmd += ["--silence", d]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        if not url.startswith("http://"):
            print("sandbox did not start", file=sys.stderr)
            return 2
        df = event_frame(a.events, devices=a.devices, seed=a.seed)
        started = time.perf_counter()
        result = amp.upload(
            df, api_key="soak-key-000000", endpoint=url + "/2/httpapi", progress=False,
            concurrency=a.concurrency,
            pacing=Pacing(device_eps=a.client_eps, window_s=1.0),
            retry=RetryPolicy(attempts=12, initial_s=0.02, max_s=0.5, budget_s=3600.0, throttle_pause_s=0.5),
        )
        elapsed = time.perf_counter() - started
        stats = _stats(url)
    finally:
        server.terminate()
        server.wait(10)

    rows = result.rows
    status = rows["status"].to_numpy()
    reasons = rows["reason"].to_numpy()
    rejected_with_reason = (status == "rejected") & (rows["reason"].notna().to_numpy())
    lost = int(((status != "ingested") & ~rejected_with_reason).sum())

    # The insert_ids of the rows the client says were ingested (encoded again, exactly as sent).
    rm = resolve_mapping(df.columns)
    ingested_positions = (status == "ingested").nonzero()[0]
    ids: set[str] = set()
    for chunk in encode(df, rm, EncodeOptions(), positions=ingested_positions):
        for payload in chunk.payloads:
            # insert_id is the last key the encoder writes; parse to be safe.
            ids.add(json.loads(payload)["insert_id"])
    stored = stats.get("events_ingested", 0)
    duplicated = stored - len(ids)

    faults = {k: v for k, v in stats.items()
              if k in ("drops", "status_500", "status_502", "status_503", "status_504", "status_413", "status_429")}
    injected = sum(v for k, v in faults.items() if k in ("drops", "status_500", "status_502", "status_503",
                                                           "status_504"))
    rejected = Counter(r for s, r in zip(status, reasons, strict=True) if s == "rejected")
    print(f"events      {a.events:,}")
    print(f"faults      {injected:,} injected (5xx + drops) {faults}; 413s and 429s from the limits; "
          f"latency spikes p={a.fault_p} x {a.spike_s}s (not counted by the sandbox)")
    print(f"requests    {stats.get('requests', 0):,} (client: {result.requests:,}, retries {result.retries:,}, "
          f"throttled {result.throttled:,}, splits {result.ledger.splits:,})")
    print(f"ingested    {result.ingested_count:,} rows; sandbox stored {stored:,}, "
          f"deduplicated resends {stats.get('duplicates', 0):,}")
    print(f"lost        {lost:,}")
    print(f"duplicated  {duplicated:,}")
    print(f"rejected    {sum(rejected.values()):,} {dict(rejected)}")
    print(f"failed      {result.failed_count:,}  skipped {result.skipped_count:,}")
    print(f"time        {elapsed:.1f} s ({a.events / elapsed:,.0f} events/s)")
    return 0 if lost == 0 and duplicated == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
