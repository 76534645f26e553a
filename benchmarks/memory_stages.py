"""Peak memory of each preparation stage of an upload, measured alone, above the frame.

    python benchmarks/memory_stages.py --rows 2000000:users
    python benchmarks/memory_stages.py --rows 10000000 --stages validate,plan

Where ``memory.py``'s one figure goes (issue 11). Each stage runs on the same frame
(``memory.frame``: ``N`` rows over ``N // 20`` devices, or ``N:users``), after what
the previous one freed is given back (``release_free_memory``), with RSS sampled every
2 ms by ``memory.Sampler``; printed: peak RSS minus RSS before the stage, and seconds.

- ``validate``: ``validate_frame`` as ``upload()`` calls it (every check below too);
- ``chunk``: one 500,000-row slice of the per-row rules (``_Validator``);
- ``duplicates``: the duplicate_event check over the whole frame (``duplicate_rows``);
- ``preflight``: the backfill pre-flight (daily quota, old user properties);
- ``order``: the time order check (``send_order``);
- ``plan``: the partition plan (``PartitionPlan`` of every row's device/user key).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from memory import MB, Sampler, frame, release_free_memory, rss


def stages(df: Any) -> dict[str, Callable[[], object]]:
    from amp_notebook._duplicates import duplicate_rows
    from amp_notebook._encoding import EncodeOptions, iter_partition_keys, send_order
    from amp_notebook._mapping import resolve_mapping
    from amp_notebook._plan import PartitionPlan
    from amp_notebook._validation import (
        ValidateOptions,
        _preflight_failures,
        _Validator,
        validate_frame,
    )

    rm = resolve_mapping(df, None)
    opts = ValidateOptions(now_ms=int(time.time() * 1000))
    return {
        "validate": lambda: validate_frame(df, rm, opts),
        "chunk": lambda: _Validator(df.iloc[:500_000], rm, opts).run(),
        "duplicates": lambda: duplicate_rows(df, rm),
        "preflight": lambda: _preflight_failures(df, rm, opts),
        "order": lambda: send_order(df, rm, EncodeOptions()),
        "plan": lambda: PartitionPlan.from_keys(lambda: iter_partition_keys(df, rm, EncodeOptions())),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="2000000:users", help="N (N // 20 devices) or N:users")
    p.add_argument("--stages", default="validate,chunk,duplicates,preflight,order,plan")
    a = p.parse_args()
    rows, _, kind = a.rows.replace("_", "").partition(":")
    df = frame(int(rows), kind == "users")
    print(f"{int(rows):,} rows ({'one user each' if kind else 'rows // 20 devices'}): frame "
          f"{df.memory_usage(deep=True).sum() / MB:,.0f} MB", flush=True)
    todo = stages(df)
    for name in a.stages.split(","):
        release_free_memory()
        before = rss()
        sampler = Sampler(0.002)
        sampler.start()
        started = time.perf_counter()
        result = todo[name]()
        seconds = time.perf_counter() - started
        peak = sampler.stop()
        del result
        print(f"  {name:<11} {(peak - before) / MB:>7,.0f} MB above the frame  {seconds:>6.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
