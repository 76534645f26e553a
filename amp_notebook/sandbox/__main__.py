"""``python -m amp_notebook.sandbox --port 0``: serve until killed; the first stdout
line is the base URL (``http://127.0.0.1:PORT``). For benchmarks and manual tests.
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ._config import Faults, SandboxConfig
from ._server import Sandbox


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m amp_notebook.sandbox", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = a free port (default)")
    p.add_argument("--device-eps", type=float, default=30.0, help="HTTP V2 events/s per device")
    p.add_argument("--batch-device-eps", type=float, default=1000.0, help="Batch events/s per device")
    p.add_argument("--window", type=float, default=30.0, help="rate window, seconds")
    p.add_argument("--strict", action="store_true", help="count the request's own events too")
    p.add_argument("--api-key", action="append", default=None,
                   help="accept only this key (repeatable); default: any key")
    p.add_argument("--silence", action="append", default=[], help="silenced device_id (repeatable)")
    p.add_argument("--daily-quota", type=int, default=None, help="events per device per day")
    p.add_argument("--project-eps", type=float, default=None,
                   help="events/s for the whole project (Starter: 1000); default: none")
    p.add_argument("--project-rps", type=float, default=None,
                   help="requests/s for the whole project (Starter: 100); default: none")
    p.add_argument("--http-body-limit", type=int, default=1_000_000)
    p.add_argument("--batch-body-limit", type=int, default=20_000_000)
    p.add_argument("--keep-events", action="store_true",
                   help="keep the event dicts in memory (default: count only; the Export API needs them)")
    p.add_argument("--secret-key", action="append", default=None,
                   help="Export API: accept only this secret key (repeatable); default: any")
    p.add_argument("--export-delay", type=float, default=0.0,
                   help="Export API: seconds after the start of its upload hour an event is exportable "
                        "(Amplitude: about 10800)")
    p.add_argument("--export-events-per-file", type=int, default=10_000)
    p.add_argument("--export-504-over-hours", type=int, default=None,
                   help="Export API fault: 504 for ranges of more hours than this")
    p.add_argument("--export-truncate", action="store_true", help="Export API fault: cut every zip in half")
    for name in ("p_500_after", "p_502_after", "p_504_after", "p_503_before",
                 "p_drop_before", "p_drop_after", "latency_s", "latency_spike_p", "latency_spike_s",
                 "p_lose"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=0.0, dest=name)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--read-timeout", type=float, default=30.0, dest="read_timeout",
                   help="seconds for a request to arrive whole after its first byte (else 408)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    faults = Faults(
        p_500_after=a.p_500_after, p_502_after=a.p_502_after, p_504_after=a.p_504_after,
        p_503_before=a.p_503_before, p_drop_before=a.p_drop_before, p_drop_after=a.p_drop_after,
        latency_s=a.latency_s, latency_spike_p=a.latency_spike_p,
        latency_spike_s=a.latency_spike_s, p_lose=a.p_lose, seed=a.seed,
    )
    config = SandboxConfig(
        api_keys=frozenset(a.api_key) if a.api_key else None,
        http_body_limit=a.http_body_limit,
        batch_body_limit=a.batch_body_limit,
        device_eps=a.device_eps,
        batch_device_eps=a.batch_device_eps,
        window_s=a.window,
        limit_mode="strict" if a.strict else "history",
        silenced_devices=frozenset(a.silence),
        daily_quota=a.daily_quota,
        project_eps=a.project_eps,
        project_rps=a.project_rps,
        faults=faults,
        keep_events=a.keep_events,
        secret_keys=frozenset(a.secret_key) if a.secret_key else None,
        export_delay_s=a.export_delay,
        export_events_per_file=a.export_events_per_file,
        export_504_over_hours=a.export_504_over_hours,
        export_truncate=a.export_truncate,
    )
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # This process is ours: every request parses thousands of short-lived dicts, and
    # the default gen-0 threshold (700) makes the collector rescan them many times per
    # request (~35% of the time). A higher threshold, and freezing what is loaded, keeps
    # the server above 100k events/s.
    gc.freeze()
    gc.set_threshold(100_000, 50, 50)
    with Sandbox(config, port=a.port, host=a.host, read_timeout_s=a.read_timeout) as sb:
        print(sb.url, flush=True)
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
