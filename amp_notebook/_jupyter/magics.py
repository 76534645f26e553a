"""``%load_ext amp_notebook``: the ``%amplitude`` line magic.

::

    %amplitude                  # the session: region, api, endpoint, key set yes/no
    %amplitude key              # prompt for the API key (getpass); kept in this kernel only
    %amplitude key forget       # drop it
    %amplitude secret           # prompt for the secret key (Export API: result.verify, read_export)
    %amplitude secret forget    # drop it
    %amplitude region eu        # us | eu
    %amplitude api batch        # http | batch
    %amplitude endpoint URL     # a custom endpoint (https, or http on loopback); "default" clears it
    %amplitude sandbox          # start a local Amplitude emulator and upload to it
    %amplitude sandbox stop
    %amplitude reset

The keys are typed at a ``getpass`` prompt, so they are never in a cell, an output
or a file: they live in ``_session`` (this process's memory) as an ``ApiKey`` and a
``SecretKey``. ``%amplitude key VALUE`` (and ``secret VALUE``) is refused for the
same reason (the value would be saved with the notebook). Settings are read by every upload in this kernel that does
not pass its own ``api_key`` / ``region`` / ``api`` / ``endpoint``.
"""

from __future__ import annotations

import getpass
import shlex
from typing import Any

from .. import _session
from .._exceptions import ConfigurationError

__all__ = ["USAGE", "amplitude_magic", "load_ipython_extension", "unload_ipython_extension"]

USAGE = """\
%amplitude                 show the session's upload settings
%amplitude key             enter the API key at a hidden prompt (kept in this kernel only)
%amplitude key forget      forget the key
%amplitude secret          enter the secret key (Export API: verify, read_export) at a hidden prompt
%amplitude secret forget   forget the secret key
%amplitude region us|eu    pick the data center
%amplitude api http|batch  HTTP V2 API or Batch Event Upload API
%amplitude endpoint URL    a custom endpoint ("%amplitude endpoint default" clears it)
%amplitude sandbox [stop]  start (or stop) a local Amplitude emulator and upload to it
%amplitude reset           forget everything above and stop the sandbox"""


class _Usage(Exception):
    """A user mistake in the magic's arguments; shown without a traceback."""


def _show() -> None:
    print("\n".join(_session.describe()))


_KINDS = {
    # command: (what it is, prompt, set it, forget it)
    "key": ("API key", "Amplitude API key (hidden): ", _session.set_key, _session.clear_key),
    "secret": ("secret key", "Amplitude secret key (hidden): ",
               _session.set_secret_key, _session.clear_secret_key),
}


def _key(command: str, args: list[str]) -> None:
    what, prompt, keep, forget = _KINDS[command]
    status = "key set" if command == "key" else "secret key set"
    if args and args[0].lower() in ("forget", "clear", "unset"):
        forget()
        print(f"{what[0].upper()}{what[1:]} forgotten. {status}: no")
        return
    if args:
        # Never echo what was typed: it may be the key itself.
        raise _Usage(
            f"%amplitude {command} takes no value: a key typed into a cell is saved with the notebook. "
            f"Run `%amplitude {command}` alone and paste the {what} at the hidden prompt "
            "(and consider rotating the key if this cell was saved)."
        )
    env = "AMPLITUDE_API_KEY" if command == "key" else "AMPLITUDE_SECRET_KEY"
    try:
        # Looked up at call time (getpass.getpass), so ipykernel's stdin prompt and
        # test doubles are both honoured.
        value = getpass.getpass(prompt)
    except Exception as exc:  # no stdin in this frontend (StdinNotImplementedError) and the like
        raise _Usage(f"could not prompt for the {what} ({type(exc).__name__}); set {env} instead") from None
    if not value or not value.strip():
        print("No key entered; nothing changed.")
        return
    keep(value)
    del value
    print(f"{what[0].upper()}{what[1:]} kept in this kernel's memory only (not in the notebook, not on disk). "
          f"{status}: yes")


def _sandbox(args: list[str]) -> None:
    if args and args[0].lower() in ("stop", "off"):
        stopped = _session.stop_sandbox()
        print("Sandbox stopped; uploads go to the configured endpoint again." if stopped else "No sandbox running.")
        return
    if args and args[0].lower() not in ("start", "on"):
        raise _Usage(f"unknown sandbox command {args[0]!r}: use `%amplitude sandbox` or `%amplitude sandbox stop`")
    running = _session.current_sandbox()
    if running is not None:
        print(f"Sandbox already running at {running.url}")
        return
    from ..sandbox import Sandbox  # lazy: the server is only needed when asked for

    try:
        sandbox = Sandbox().start()
    except RuntimeError as exc:
        raise _Usage(str(exc)) from None
    _session.use_sandbox(sandbox)
    print(f"Sandbox running at {sandbox.url}")
    print(f"Uploads in this kernel now go to {_session.effective_endpoint().url} (a dummy key is used).")
    print("Stop it with `%amplitude sandbox stop`.")


def _setting(name: str, args: list[str]) -> None:
    if len(args) != 1:
        raise _Usage(f"usage: %amplitude {name} VALUE")
    value = args[0]
    try:
        if name == "region":
            _session.set_region(value)
        elif name == "api":
            _session.set_api(value)
        else:
            _session.set_endpoint(None if value.lower() in ("default", "none", "reset") else value)
    except ConfigurationError as exc:
        raise _Usage(str(exc)) from None
    if _session.current_sandbox() is not None and name in ("region", "endpoint"):
        print("Note: the sandbox is running, so uploads go there until `%amplitude sandbox stop`.")
    elif name == "region" and _session.settings.endpoint is not None:
        print("Note: a custom endpoint is set; the region applies after `%amplitude endpoint default`.")
    _show()


def amplitude_magic(line: str) -> None:
    """The ``%amplitude`` line magic (see the module docstring)."""
    try:
        args = shlex.split(line)
    except ValueError as exc:
        _usage_error(f"could not read the arguments: {exc}")
        return
    command, rest = (args[0].lower(), args[1:]) if args else ("", [])
    try:
        if command in ("", "show", "config", "status"):
            _show()
        elif command in _KINDS:
            _key(command, rest)
        elif command == "sandbox":
            _sandbox(rest)
        elif command in ("region", "api", "endpoint"):
            _setting(command, rest)
        elif command == "reset":
            _session.reset()
            print("Session reset: no key, region us, api http, default endpoint, no sandbox.")
        elif command in ("help", "-h", "--help"):
            print(USAGE)
        else:
            raise _Usage(f"unknown command {command!r}\n{USAGE}")
    except _Usage as exc:
        _usage_error(str(exc))


def _usage_error(message: str) -> None:
    # IPython shows a UsageError as one red line, without a traceback.
    from IPython.core.error import UsageError

    raise UsageError(message)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext amp_notebook``: register ``df.amplitude`` and ``%amplitude``."""
    from .. import accessor  # noqa: F401  (importing it registers the accessor)

    ipython.register_magic_function(amplitude_magic, magic_kind="line", magic_name="amplitude")


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext amp_notebook``: stop the sandbox; the key stays until the kernel ends or reset."""
    _session.stop_sandbox()
