"""Process-wide upload defaults, set by ``%amplitude`` (or code) and read by ``upload``.

One small settings object per Python process (per kernel): the API key typed at
a ``getpass`` prompt, the region, the API, a custom endpoint and a running local
sandbox. Nothing here is written to disk or to the notebook: the key lives only
in this process's memory, as an :class:`~._config.ApiKey` that prints as
``**********`` (design.md, principle 6).

Precedence (:func:`merge_defaults`): an argument given to ``upload`` wins over the
session, the session wins over the ``AMPLITUDE_API_KEY`` environment variable
(which ``_config.resolve_api_key`` reads when no key reaches it). A running
sandbox wins over a custom endpoint until it is stopped; while uploads go to the
sandbox they carry a dummy key, so the real key never leaves for it.

Pure state: no IO, no clock; the sandbox is only held (and stopped on reset),
it is started by ``_jupyter.magics``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from ._config import ApiKey, Endpoint, SecretKey, endpoint_api, resolve_endpoint
from ._exceptions import ConfigurationError
from ._logging import register_secret

__all__ = [
    "SANDBOX_KEY",
    "SANDBOX_SECRET_KEY",
    "SandboxHandle",
    "Settings",
    "clear_key",
    "clear_secret_key",
    "current_sandbox",
    "defaults",
    "describe",
    "effective_endpoint",
    "merge_defaults",
    "merge_export_defaults",
    "reset",
    "set_api",
    "set_endpoint",
    "set_key",
    "set_region",
    "set_secret_key",
    "settings",
    "stop_sandbox",
    "use_sandbox",
]

# The sandbox accepts any key unless configured otherwise; sending these means
# the user's real keys are never sent to it.
SANDBOX_KEY = "amp-notebook-sandbox-key"
SANDBOX_SECRET_KEY = "amp-notebook-sandbox-secret"


class SandboxHandle(Protocol):
    """What the session needs of a running ``amp_notebook.sandbox.Sandbox``."""

    @property
    def url(self) -> str: ...
    @property
    def http_url(self) -> str: ...
    @property
    def batch_url(self) -> str: ...
    @property
    def export_url(self) -> str: ...
    def stop(self) -> None: ...


@dataclass
class Settings:
    """The session's values; read them through :func:`defaults`, change them with the setters."""

    api_key: ApiKey | None = None
    secret_key: SecretKey | None = None  # the Export API's (result.verify, read_export)
    region: str = "us"
    api: str = "http"
    endpoint: str | None = None
    sandbox: SandboxHandle | None = None

    def __repr__(self) -> str:
        # Explicit so that a future field can never leak the key through a dataclass repr.
        try:
            sandbox = self.sandbox.url if self.sandbox is not None else None
        except RuntimeError:
            sandbox = "stopped"
        return (
            f"Settings(api_key={'set' if self.api_key is not None else 'unset'}, "
            f"secret_key={'set' if self.secret_key is not None else 'unset'}, region={self.region!r}, "
            f"api={self.api!r}, endpoint={self.endpoint!r}, "
            f"sandbox={sandbox!r})"
        )


settings = Settings()
_lock = threading.RLock()


# -- setters ------------------------------------------------------------------------------


def set_key(key: ApiKey | str) -> None:
    """Keep ``key`` for this process's uploads (and mask it in the package's logs)."""
    api_key = ApiKey(key)
    register_secret(api_key)
    with _lock:
        settings.api_key = api_key


def clear_key() -> None:
    with _lock:
        settings.api_key = None


def set_secret_key(key: SecretKey | str) -> None:
    """Keep the project's secret key for this process's exports (and mask it in the package's logs)."""
    secret_key = SecretKey(key)
    register_secret(secret_key)
    with _lock:
        settings.secret_key = secret_key


def clear_secret_key() -> None:
    with _lock:
        settings.secret_key = None


def set_region(region: str) -> None:
    """``"us"`` or ``"eu"`` (reference, "Endpoints"); checked now, not at upload time."""
    with _lock:
        resolve_endpoint(region, settings.api)
        settings.region = region.lower()


def set_api(api: str) -> None:
    """``"http"`` (HTTP V2) or ``"batch"`` (Batch Event Upload)."""
    with _lock:
        resolve_endpoint(settings.region, api)
        settings.api = api.lower()


def set_endpoint(url: str | None) -> Endpoint:
    """A custom URL (https, or http on loopback only: ``_config.resolve_endpoint``); None clears it."""
    with _lock:
        if url is None:
            settings.endpoint = None
            return resolve_endpoint(settings.region, settings.api)
        endpoint = resolve_endpoint(settings.region, settings.api, url)
        settings.endpoint = url
        return endpoint


def use_sandbox(sandbox: SandboxHandle) -> None:
    """Point uploads at a running sandbox (stopping a previous one)."""
    with _lock:
        previous = settings.sandbox
        settings.sandbox = sandbox
    if previous is not None and previous is not sandbox:
        previous.stop()


def stop_sandbox() -> bool:
    """Stop the session's sandbox; False when none was running."""
    with _lock:
        sandbox, settings.sandbox = settings.sandbox, None
    if sandbox is None:
        return False
    sandbox.stop()
    return True


def reset() -> None:
    """Back to the start: no keys, US, HTTP V2, default endpoint, sandbox stopped."""
    stop_sandbox()
    with _lock:
        settings.api_key = None
        settings.secret_key = None
        settings.region = "us"
        settings.api = "http"
        settings.endpoint = None


# -- readers ------------------------------------------------------------------------------


def current_sandbox() -> SandboxHandle | None:
    """The session's sandbox, forgotten if it was stopped behind our back (``sb.stop()``)."""
    with _lock:
        sandbox = settings.sandbox
        if sandbox is None:
            return None
        try:
            sandbox.url  # noqa: B018  (a stopped Sandbox raises RuntimeError here)
        except RuntimeError:
            settings.sandbox = None
            return None
        return sandbox


def _sandbox_url(sandbox: SandboxHandle, api: str) -> str:
    return sandbox.batch_url if api == "batch" else sandbox.http_url


def effective_endpoint() -> Endpoint:
    """Where an upload with no endpoint/region argument goes now."""
    with _lock:
        sandbox = current_sandbox()
        if sandbox is not None:
            return resolve_endpoint(settings.region, settings.api, _sandbox_url(sandbox, settings.api))
        return resolve_endpoint(settings.region, settings.api, settings.endpoint)


def defaults() -> dict[str, Any]:
    """The session's upload defaults: ``api_key`` (ApiKey | None), ``region``, ``api``, ``endpoint`` (str | None).

    ``endpoint`` is the sandbox's URL for the session's API while a sandbox runs,
    and ``api_key`` then the dummy :data:`SANDBOX_KEY`.
    """
    with _lock:
        sandbox = current_sandbox()
        if sandbox is not None:
            return {
                "api_key": ApiKey(SANDBOX_KEY),
                "region": settings.region,
                "api": settings.api,
                "endpoint": _sandbox_url(sandbox, settings.api),
            }
        return {
            "api_key": settings.api_key,
            "region": settings.region,
            "api": settings.api,
            "endpoint": settings.endpoint,
        }


def merge_defaults(
    api_key: Any = None,
    region: str | None = None,
    api: str | None = None,
    endpoint: str | None = None,
) -> dict[str, Any]:
    """The four upload arguments, explicit ones first, the session's for the rest.

    ``_upload.target`` calls this with the upload's arguments (``None`` = not given) and
    uses the returned ``api_key``, ``region``, ``api`` and ``endpoint``. Rules:

    - ``endpoint``: the argument; else, when ``region`` was given, None (that
      region's URL); else the session's (sandbox first, then custom endpoint).
    - ``api_key``: the argument; else the dummy sandbox key when the request goes
      to the session's sandbox; else the session's key; else None (then
      ``resolve_api_key`` tries ``AMPLITUDE_API_KEY``).
    """
    with _lock:
        sandbox = current_sandbox()
        api_out = api if api is not None else settings.api
        region_out = region if region is not None else settings.region
        if endpoint is not None:
            endpoint_out: str | None = endpoint
        elif region is not None:
            endpoint_out = None
        elif sandbox is not None:
            endpoint_out = _sandbox_url(sandbox, str(api_out).lower())
        else:
            endpoint_out = settings.endpoint
        if api_key is None:
            to_sandbox = sandbox is not None and endpoint_out is not None and endpoint_out.rstrip("/") in (
                sandbox.url, sandbox.http_url, sandbox.batch_url)
            api_key = ApiKey(SANDBOX_KEY) if to_sandbox else settings.api_key
        return {"api_key": api_key, "region": region_out, "api": api_out, "endpoint": endpoint_out}


def merge_export_defaults(
    api_key: Any = None,
    secret_key: Any = None,
    region: str | None = None,
    export_endpoint: str | None = None,
) -> dict[str, Any]:
    """The Export API's arguments (``result.verify``, ``read_export``), explicit ones first.

    Like :func:`merge_defaults`: ``export_endpoint`` is the argument; else, when
    ``region`` was given, None (that region's Export API); else the session's
    sandbox's export URL while one runs. The keys: the arguments; else the dummy
    sandbox keys when the export comes from the session's sandbox; else the
    session's; else None (then ``AMPLITUDE_API_KEY`` / ``AMPLITUDE_SECRET_KEY``).
    ``export_delay_s``: the session's sandbox's, when the export comes from it; else None.
    """
    with _lock:
        sandbox = current_sandbox()
        region_out = region if region is not None else settings.region
        endpoint_out = export_endpoint
        if endpoint_out is None and region is None and sandbox is not None:
            endpoint_out = sandbox.export_url
        to_sandbox = sandbox is not None and endpoint_out == sandbox.export_url
        if api_key is None:
            api_key = ApiKey(SANDBOX_KEY) if to_sandbox else settings.api_key
        if secret_key is None:
            secret_key = SecretKey(SANDBOX_SECRET_KEY) if to_sandbox else settings.secret_key
        # A sandbox says how soon it serves an hour's export (Amplitude: about 3 h after its start).
        delay = getattr(getattr(sandbox, "config", None), "export_delay_s", None) if to_sandbox else None
        return {"api_key": api_key, "secret_key": secret_key, "region": region_out,
                "export_endpoint": endpoint_out, "export_delay_s": delay}


def describe() -> list[str]:
    """The session as text lines, for ``%amplitude``: never the key, only whether one is set."""
    with _lock:
        try:
            target = effective_endpoint()
            where = f"{target.url} [{target.label}]"
        except ConfigurationError as exc:  # e.g. a custom endpoint that no longer validates
            where = f"invalid: {exc}"
        key = "yes" if settings.api_key is not None else "no"
        if settings.api_key is None and os.environ.get("AMPLITUDE_API_KEY"):
            key += " (AMPLITUDE_API_KEY is set in the environment: uploads use it)"
        secret = "yes" if settings.secret_key is not None else "no"
        if settings.secret_key is None and os.environ.get("AMPLITUDE_SECRET_KEY"):
            secret += " (AMPLITUDE_SECRET_KEY is set in the environment: exports use it)"
        lines = [
            f"region: {settings.region}",
            f"api: {settings.api} ({'HTTP V2' if settings.api == 'http' else 'Batch'})",
            f"endpoint: {where}",
            # One line, so saved notebooks (whose sanitizer masks "key set: ..." to the end
            # of the line) read the same whatever keys the machine has.
            f"key set: {key} | secret key set: {secret}",
        ]
        sandbox = current_sandbox()
        if sandbox is not None:
            lines.append(f"sandbox: running at {sandbox.url} (uploads go there with a dummy key)")
        elif settings.endpoint is not None:
            lines.append("custom endpoint set (the region does not apply)")
            spoken = endpoint_api(settings.endpoint)
            if spoken is not None and spoken != settings.api.lower():
                name = "HTTP V2" if spoken == "http" else "Batch"
                lines.append(
                    f"note: the endpoint's path is the {name} API's, so uploads there use {name}; "
                    "give its base URL (scheme://host:port) to follow `%amplitude api`"
                )
        return lines
