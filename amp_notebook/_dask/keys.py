"""The API key on Dask workers, never in the task graph, a log or the dashboard.

Two ways, chosen by the driver (``_dask.driver``):

1. **The workers' environment** (production): ``api_key=None`` and no session key;
   each worker reads ``AMPLITUDE_API_KEY`` from its own environment, as the pandas
   upload does (``LocalCluster(env=...)``, a Kubernetes or Coiled secret). Nothing
   secret leaves the driver. The driver checks first that every worker has one.
2. **Handed over out of band** (notebooks: ``api_key=...`` or ``%amplitude key``):
   the graph carries only a random token; before the tasks run,
   ``client.run(put, token, key)`` stores the key in a dict of this module on every
   worker, and ``pop`` removes it when the job ends. ``Client.run`` goes through the
   scheduler's ``broadcast``, which relays the message and keeps nothing (a worker
   plugin would keep its pickle on the scheduler, in ``Scheduler.worker_plugins``);
   the store is not the worker's data store, so the key is never spilled to disk.
   The message travels in the clear unless the comms are encrypted, so the handover
   is refused unless the scheduler and every worker are on ``tls://``, ``inproc://``
   or a loopback ``tcp://`` address (like ``http://`` endpoints off loopback).

A worker that joins during the job (a restarted or added one) has no key yet: the
task asks the driver for it with an event (``need_key``) and waits.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from .._config import ApiKey, is_loopback
from .._exceptions import ConfigurationError
from .._logging import forget_secrets, register_secret

__all__ = ["check_secure", "get", "has_env_key", "pop", "put", "stored_tokens", "wait_for"]

_lock = threading.Lock()
_store: dict[str, ApiKey] = {}


def put(token: str, secret: str) -> bool:
    """Keep the key for the job ``token`` (runs on a worker, through ``Client.run``)."""
    key = ApiKey(secret)
    register_secret(key)  # worker-side log records mask it from now on
    with _lock:
        _store[token] = key
    return True


def pop(token: str) -> bool:
    """Forget the job's key; True when there was one."""
    with _lock:
        key = _store.pop(token, None)
        still_used = key is not None and key in _store.values()
    if key is not None and not still_used:
        forget_secrets([key])
    return key is not None


def get(token: str) -> ApiKey | None:
    with _lock:
        return _store.get(token)


def stored_tokens() -> list[str]:
    """The jobs whose key this process holds (tests check it is empty afterwards)."""
    with _lock:
        return list(_store)


def wait_for(
    token: str, ask: Callable[[], None], *, timeout_s: float = 60.0, poll_s: float = 0.1,
    sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
) -> ApiKey | None:
    """The job's key; if this worker has none, ``ask`` the driver once and wait for it."""
    key = get(token)
    if key is not None:
        return key
    ask()
    deadline = clock() + timeout_s
    while clock() < deadline:
        sleep(poll_s)
        key = get(token)
        if key is not None:
            return key
    return None


def has_env_key() -> bool:
    """Whether this process (a worker, through ``Client.run``) has ``AMPLITUDE_API_KEY``."""
    return bool(os.environ.get("AMPLITUDE_API_KEY", "").strip())


def _secure(address: str) -> bool:
    parts = urlsplit(address)
    if parts.scheme in ("tls", "inproc"):
        return True
    return parts.scheme in ("tcp", "") and parts.hostname is not None and is_loopback(parts.hostname)


def check_secure(addresses: Iterable[str]) -> None:
    """Refuse to send the key to any address the comms would carry it to in the clear."""
    for address in addresses:
        if not _secure(address):
            raise ConfigurationError(
                f"refusing to hand the API key to the Dask cluster at {address}: its comms are not "
                "encrypted (only tls://, inproc:// or loopback tcp:// are allowed). Set "
                "AMPLITUDE_API_KEY in the workers' environment and pass api_key=None, or use TLS "
                "(distributed.security.Security)"
            )
