"""Identify throughput: user properties from a DataFrame to the sandbox server, over loopback.

    python benchmarks/identify.py [--rows 1000000] [--keep]

One user per row (``user_id``) and five properties of mixed types: ``plan`` and
``company`` (str, set), ``lifetime_value`` (float, set), ``logins`` (int, add),
``signup`` (datetime, setOnce: sent as an ISO 8601 string). The sandbox runs in its
own process (``python -m amp_notebook.sandbox``; its counters, read from
``GET /_sandbox/stats``, must show every identification applied and no 413/429).

Printed side by side, from one run:

- ``identify``: ``df.amplitude.identify(...)`` with the default settings (pacing per
  user, 1024 identifications per request, concurrency 4), timed from the call to its
  return: validation, encoding, batching and sending all included. **rows/s** is the
  headline figure.
- ``prepare``: validation + encoding alone (``validate_identify`` and the encoder), the
  part of that time spent on this side before the bytes reach the socket.

``--keep`` makes the sandbox keep every user's properties (as the notebooks and tests
do); by default it only counts them, as ``upload.py``'s sandbox only counts events, so
the figure is the client's, not the sandbox's bookkeeping.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd
from upload import ServerProcess, cpu_s

import amp_notebook  # noqa: F401  (registers df.amplitude)
from amp_notebook._identify_encoding import encode_identifications
from amp_notebook._identify_mapping import plan_identify
from amp_notebook._identify_validation import validate_identify

KEY = "bench-key-0123456789abcdef"
OPERATIONS = {"logins": "add", "signup": "setOnce"}


def users_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "user_id": pd.Series(np.arange(n)).map("user-{:07d}".format),
        "plan": rng.choice(["free", "plus", "pro", "team", "enterprise"], n),
        "company": rng.choice(["Acme", "Globex", "Initech", "Umbrella", "Hooli"], n),
        "lifetime_value": np.round(rng.gamma(2.0, 40.0, n), 2),
        "logins": rng.integers(0, 100, n),
        "signup": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 2 * 10**7, n), unit="s"),
    })


def prepare(df: pd.DataFrame) -> float:
    t0 = time.perf_counter()
    m = plan_identify(df, "user", operations=OPERATIONS)
    report = validate_identify(df, m)
    assert report.ok, report
    rows = sum(len(c) for c in encode_identifications(df, m))
    assert rows == len(df)
    return time.perf_counter() - t0


def identify(df: pd.DataFrame, keep: bool) -> dict[str, float]:
    n = len(df)
    with ServerProcess(*(["--keep-events"] if keep else [])) as sb:
        gc.collect()
        c0, s0 = time.process_time(), cpu_s(sb.proc.pid)
        t0 = time.perf_counter()
        result = df.amplitude.identify(api_key=KEY, endpoint=sb.url + "/identify", operations=OPERATIONS,
                                       progress=False)
        wall = time.perf_counter() - t0
        c1, s1 = time.process_time(), cpu_s(sb.proc.pid)
        stats = sb.stats()
    assert result.ok and result.ingested_count == n, result
    assert stats.get("identify_applied", 0) == n, stats
    assert stats.get("status_413", 0) == 0 and stats.get("status_429", 0) == 0, stats
    return {"seconds": wall, "rows_s": n / wall, "requests": stats["requests"],
            "client_cpu": c1 - c0, "server_cpu": s1 - s0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="the sandbox keeps the properties (default: counts)")
    args = parser.parse_args()
    df = users_frame(args.rows)
    print(f"{args.rows:,} users, five properties (set, set, set, add, setOnce); sandbox in its own process"
          f"{' keeping properties' if args.keep else ' (counting only)'}")
    prep = prepare(df)
    run = identify(df, args.keep)
    print(f"{'':<10}{'seconds':>10}{'rows/s':>12}{'requests':>10}{'client CPU s':>14}{'server CPU s':>14}")
    print(f"{'prepare':<10}{prep:>10.2f}{args.rows / prep:>12,.0f}{'':>10}{'':>14}{'':>14}")
    print(f"{'identify':<10}{run['seconds']:>10.2f}{run['rows_s']:>12,.0f}{run['requests']:>10,.0f}"
          f"{run['client_cpu']:>14.2f}{run['server_cpu']:>14.2f}")


if __name__ == "__main__":
    main()
