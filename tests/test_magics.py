"""%load_ext amp_notebook and %amplitude, in a real IPython shell."""

from __future__ import annotations

import getpass
import logging
from collections.abc import Iterator

import httpx
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.tools import default_config

from amp_notebook import ApiKey, SecretKey, _session
from amp_notebook._jupyter import magics as _magics

CANARY = "canary-3f9c1e27b4d84a6f9e0d1c2b3a4f5e6d"


@pytest.fixture
def ip() -> Iterator[InteractiveShell]:
    created = not InteractiveShell.initialized()
    config = default_config()
    config.HistoryManager.hist_file = ":memory:"  # nothing typed in the tests goes to disk
    shell = InteractiveShell.instance(config=config)
    _session.reset()
    try:
        yield shell
    finally:
        _session.reset()
        if created:
            InteractiveShell.clear_instance()


@pytest.fixture
def loaded(ip: InteractiveShell) -> InteractiveShell:
    ip.run_line_magic("load_ext", "amp_notebook._jupyter.magics")
    return ip


def run(ip: InteractiveShell, capsys: pytest.CaptureFixture[str], line: str) -> str:
    ip.run_line_magic("amplitude", line)
    out, err = capsys.readouterr()
    return out + err


def test_load_ext_on_the_package_registers_magic_and_accessor(ip: InteractiveShell) -> None:
    import pandas as pd

    import amp_notebook

    if not hasattr(amp_notebook, "load_ipython_extension"):
        # Until __init__ delegates to _magics, load the extension module itself.
        ip.run_line_magic("load_ext", "amp_notebook._jupyter.magics")
    else:
        ip.run_line_magic("load_ext", "amp_notebook")
    assert "amplitude" in ip.magics_manager.magics["line"]
    assert hasattr(pd.DataFrame({"a": [1]}), "amplitude")


def test_show_defaults(loaded: InteractiveShell, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMPLITUDE_API_KEY", raising=False)
    out = run(loaded, capsys, "")
    assert "region: us" in out
    assert "api: http" in out
    # Reference, "Endpoints": HTTP V2 in the US.
    assert "https://api2.amplitude.com/2/httpapi" in out
    assert "key set: no" in out


def test_region_and_api(loaded: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(loaded, capsys, "region eu")
    assert "region: eu" in out
    assert "https://api.eu.amplitude.com/2/httpapi" in out
    out = run(loaded, capsys, "api batch")
    assert "https://api.eu.amplitude.com/batch" in out
    assert _session.merge_defaults() == {
        "api_key": None,
        "region": "eu",
        "api": "batch",
        "endpoint": None,
    }
    with pytest.raises(UsageError, match="region"):
        loaded.run_line_magic("amplitude", "region mars")
    with pytest.raises(UsageError, match="api"):
        loaded.run_line_magic("amplitude", "api grpc")
    assert _session.settings.region == "eu"


def test_endpoint_is_validated(loaded: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    # Plain http off loopback would send the key in clear text.
    with pytest.raises(UsageError, match="http"):
        loaded.run_line_magic("amplitude", "endpoint http://proxy.example.com/2/httpapi")
    assert _session.settings.endpoint is None
    out = run(loaded, capsys, "endpoint https://proxy.example.com/2/httpapi")
    assert "https://proxy.example.com/2/httpapi" in out
    assert _session.merge_defaults()["endpoint"] == "https://proxy.example.com/2/httpapi"
    # An explicit region in a call means that region's URL, not the custom endpoint.
    assert _session.merge_defaults(region="eu")["endpoint"] is None
    out = run(loaded, capsys, "endpoint default")
    assert "https://api2.amplitude.com/2/httpapi" in out


def test_key_is_kept_in_memory_and_never_shown(
    loaded: InteractiveShell,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("AMPLITUDE_API_KEY", raising=False)
    prompts: list[str] = []

    def fake_getpass(prompt: str = "Password: ", stream: object = None) -> str:
        prompts.append(prompt)
        return CANARY + "\n"

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    outputs = [run(loaded, capsys, "key")]
    assert len(prompts) == 1
    outputs.append(run(loaded, capsys, ""))
    assert "key set: yes" in outputs[-1]
    assert _session.settings.api_key == ApiKey(CANARY)
    assert _session.merge_defaults()["api_key"] == ApiKey(CANARY)

    # Nothing that prints, logs or reprs the session shows it.
    outputs += [repr(_session.settings), repr(_session.defaults()), repr(_session.merge_defaults())]
    with caplog.at_level(logging.DEBUG, logger="amp_notebook"):
        logging.getLogger("amp_notebook").warning("key is %s", CANARY)
    outputs.append(caplog.text)
    outputs.append(repr(loaded.user_ns.get("_")))
    for text in outputs:
        assert CANARY not in text

    out = run(loaded, capsys, "key forget")
    assert "key set: no" in out
    assert _session.settings.api_key is None


def test_secret_key_is_kept_in_memory_and_never_shown(
    loaded: InteractiveShell,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("AMPLITUDE_SECRET_KEY", raising=False)
    prompts: list[str] = []

    def fake_getpass(prompt: str = "Password: ", stream: object = None) -> str:
        prompts.append(prompt)
        return CANARY

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    outputs = [run(loaded, capsys, "secret")]
    assert prompts == ["Amplitude secret key (hidden): "]
    assert "secret key set: yes" in outputs[-1]
    outputs.append(run(loaded, capsys, ""))
    assert "secret key set: yes" in outputs[-1]
    assert _session.settings.secret_key == SecretKey(CANARY)
    assert _session.settings.api_key is None  # the two never mix
    outputs.append(repr(_session.settings))
    with caplog.at_level(logging.DEBUG, logger="amp_notebook"):
        logging.getLogger("amp_notebook").warning("secret is %s", CANARY)
    outputs.append(caplog.text)
    for text in outputs:
        assert CANARY not in text
    with pytest.raises(UsageError) as info:
        loaded.run_line_magic("amplitude", f"secret {CANARY}")
    assert CANARY not in str(info.value)
    out = run(loaded, capsys, "secret forget")
    assert "secret key set: no" in out
    assert _session.settings.secret_key is None


def test_secret_key_from_the_environment_is_mentioned(
    loaded: InteractiveShell, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMPLITUDE_SECRET_KEY", CANARY)
    out = run(loaded, capsys, "")
    assert "AMPLITUDE_SECRET_KEY is set" in out
    assert CANARY not in out


def test_key_in_the_cell_is_refused_without_echo(loaded: InteractiveShell) -> None:
    with pytest.raises(UsageError) as info:
        loaded.run_line_magic("amplitude", f"key {CANARY}")
    assert CANARY not in str(info.value)
    assert _session.settings.api_key is None


def test_empty_key_changes_nothing(
    loaded: InteractiveShell, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": "  ")
    out = run(loaded, capsys, "key")
    assert "nothing changed" in out.lower()
    assert _session.settings.api_key is None


def test_sandbox_start_and_stop(
    loaded: InteractiveShell, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": CANARY)
    run(loaded, capsys, "key")
    out = run(loaded, capsys, "sandbox")
    sandbox = _session.settings.sandbox
    assert sandbox is not None
    assert sandbox.url in out
    assert sandbox.url.startswith("http://127.0.0.1:")
    # A real server: it answers over HTTP.
    assert httpx.get(sandbox.url + "/", timeout=5).status_code == 200

    target = _session.merge_defaults()
    assert target["endpoint"] == sandbox.http_url
    # The real key is not sent to the sandbox.
    assert target["api_key"] == ApiKey(_session.SANDBOX_KEY)
    # An explicit endpoint elsewhere gets the user's key, not the dummy.
    assert _session.merge_defaults(endpoint="https://proxy.example.com/x")["api_key"] == ApiKey(CANARY)
    run(loaded, capsys, "api batch")
    assert _session.merge_defaults()["endpoint"] == sandbox.batch_url

    shown = run(loaded, capsys, "")
    assert sandbox.url in shown
    assert CANARY not in shown

    url = sandbox.url
    out = run(loaded, capsys, "sandbox stop")
    assert "stopped" in out.lower()
    assert _session.settings.sandbox is None
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/", timeout=2)
    assert _session.merge_defaults()["api_key"] == ApiKey(CANARY)
    assert "No sandbox" in run(loaded, capsys, "sandbox stop")


def test_reset(loaded: InteractiveShell, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMPLITUDE_API_KEY", raising=False)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": CANARY)
    run(loaded, capsys, "key")
    run(loaded, capsys, "region eu")
    run(loaded, capsys, "sandbox")
    sandbox = _session.settings.sandbox
    assert sandbox is not None
    url = sandbox.url
    run(loaded, capsys, "reset")
    out = run(loaded, capsys, "")
    assert "key set: no" in out
    assert "region: us" in out
    assert _session.settings.sandbox is None
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/", timeout=2)


def test_unknown_command(loaded: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="unknown command"):
        loaded.run_line_magic("amplitude", "frobnicate")


def test_unload_stops_sandbox(loaded: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    run(loaded, capsys, "sandbox")
    assert _session.settings.sandbox is not None
    _magics.unload_ipython_extension(loaded)
    assert _session.settings.sandbox is None


def test_sandbox_stopped_elsewhere_is_forgotten(loaded: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    run(loaded, capsys, "sandbox")
    sandbox = _session.settings.sandbox
    assert sandbox is not None
    sandbox.stop()  # e.g. the user stopped the handle themselves
    out = run(loaded, capsys, "")
    assert "https://api2.amplitude.com/2/httpapi" in out
    assert _session.merge_defaults()["endpoint"] is None
    out = run(loaded, capsys, "sandbox")
    assert _session.settings.sandbox is not None
    assert _session.settings.sandbox is not sandbox
    assert _session.settings.sandbox.url in out
