"""The API key and the secret key never show (design.md principle 6).

Static: only the body encoder reveals the API key, only the Export API's Basic auth
both keys; the other ``.reveal()`` calls are
listed here one by one with why they are harmless; no module that writes files
touches the key. Runtime: a recognisable canary key goes through a successful
upload, an "Invalid API key" stop, a 400 partial failure and a request-level
refusal, and with a canary secret key through verify and read_export; they must not
appear in any repr/str/HTML of what the user gets back, in warnings, or in DEBUG logs.
"""

from __future__ import annotations

import logging
import pickle
import re
import warnings
from pathlib import Path

import httpx
import pandas as pd
import pytest

import amp_notebook as amp
from amp_notebook import RetryPolicy
from amp_notebook.sandbox import HTTP_PATH, Sandbox, SandboxConfig

PKG = Path(amp.__file__).resolve().parent
CANARY = "CANARY-k3y-7f3e9a1b5c"
ENDPOINT = "http://127.0.0.1:9" + HTTP_PATH  # never dialled: the in-process transport answers

# Every allowed `.reveal()` outside Secret (ApiKey, SecretKey) itself: (module, the line's code).
ALLOWED_REVEALS = {
    # The body encoder: the only place the key goes anywhere (into the request body).
    ("_client.py", "body = s.wire.body(batch, s.api_key.reveal(), s.options)"),
    # Only the length, to size the envelope around the events.
    ("_client.py", "self.envelope = settings.wire.scheduler_envelope(settings.api_key.reveal(), settings.options, settings.limits)"),
    ("_send.py", 'return wire.scheduler_envelope(key.reveal() if key is not None else "k" * 32, options, limits)'),
    # The Export API's Basic auth (verify, read_export): the only use of the secret key.
    ("_export_http.py", "auth = httpx.BasicAuth(api_key.reveal(), secret_key.reveal())"),
    # Dask: the key handed to the workers' key store out of band (Client.run, never the
    # graph), only over encrypted or loopback comms (keys.check_secure, the line before).
    ("driver.py", "client.run(keys.put, token, key.reveal(), workers=workers)"),
    # The log redactor: registers / forgets the key so that it can mask it.
    ("_logging.py", "value = secret.reveal() if isinstance(secret, Secret) else str(secret)"),
    ("_logging.py", "_secrets.discard(secret.reveal() if isinstance(secret, Secret) else str(secret))"),
}


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "sandbox" not in p.relative_to(PKG).parts)


def test_only_the_body_encoder_reveals_the_key() -> None:
    found = set()
    for path in _modules():
        if path.name == "_config.py":
            continue  # Secret's own methods (copy constructor, __eq__)
        for line in path.read_text().splitlines():
            if ".reveal()" in line and not line.lstrip().startswith(("#", '"', "'")):
                found.add((path.name, line.strip()))
    assert found == ALLOWED_REVEALS, found ^ ALLOWED_REVEALS
    # envelope_size takes a str but must only use its length.
    batching = (PKG / "_batching.py").read_text()
    m = re.search(r"def envelope_size\(.*?\n(?=def |\Z)", batching, re.S)
    assert m is not None
    # It is handed the key itself by _client.py: it may only measure it.
    uses = re.findall(r".*\bapi_key_length\b.*", m.group(0).split('"""')[-1])
    for line in uses:
        assert "len(" in line or "isinstance(" in line or "return" in line, line
    assert "api_key_length" not in m.group(0).split("return", 1)[1].replace("+ api_key_length +", "")


def test_wire_envelopes_only_measure_the_key() -> None:
    # The Wires are handed the key to size the envelope: they may only return a length.
    for name, cls in (("_wire.py", "class Wire"), ("_form.py", "class FormWire")):
        text = (PKG / name).read_text()
        cls_text = text[text.index(cls):]
        body = re.search(r"    def envelope\(.*?\n(?=    def )", cls_text, re.S)
        assert body is not None, name
        returns = re.findall(r"return (.*)", body.group(0))
        assert returns and all(r.startswith(("len(", "envelope_size(")) for r in returns), returns


def test_config_reveal_is_only_inside_secret() -> None:
    text = (PKG / "_config.py").read_text()
    cls = re.search(r"class Secret\b.*?(?=\nclass |\ndef |\Z)", text, re.S)
    assert cls is not None
    outside = text.replace(cls.group(0), "")
    assert ".reveal()" not in outside


def test_session_and_magics_only_check_presence() -> None:
    for name in ("_session.py", "_jupyter/magics.py"):
        text = (PKG / name).read_text()
        assert ".reveal()" not in text
        assert "._value" not in text


def test_no_module_that_writes_files_touches_the_key() -> None:
    writes = re.compile(r"write_text|write_bytes|\bopen\([^)]*['\"][wa]|\.to_csv|\.to_parquet|\.to_json|json\.dump\(")
    for path in _modules():
        text = path.read_text()
        if writes.search(text):
            assert not re.search(r"api_key|ApiKey|secret_key|SecretKey|reveal", text), (
                f"{path.name} writes files and handles a key"
            )


# -- runtime canary ------------------------------------------------------------------------


def _frame(n: int = 20) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [f"user-{i:05d}" for i in range(n)],
            "event_type": ["Play"] * n,
            "time": pd.date_range("2026-01-01", periods=n, freq="s"),
            "event_properties.note": [f"n{i}" for i in range(n)],
        }
    )


def _texts(obj: object) -> list[str]:
    out = [repr(obj), str(obj)]
    html = getattr(obj, "_repr_html_", None)
    if callable(html):
        out.append(str(html()))
    return out


def _assert_clean(*objs: object) -> None:
    for obj in objs:
        for text in _texts(obj):
            assert CANARY not in text, type(obj)


def _upload(df: pd.DataFrame, sb: Sandbox, **kw: object) -> amp.UploadResult:
    return amp.upload(df, api_key=CANARY, endpoint=ENDPOINT, transport=sb.transport(sleep=False),
                      retry=RetryPolicy.fast(), progress=False, **kw)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def test_canary_success_partial_and_failures(debug_logs: pytest.LogCaptureFixture) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb = Sandbox()
        ok = _upload(_frame(), sb)
        assert ok.ingested_count == 20
        # A 400 naming some events: rejected rows with reasons.
        df = _frame()
        df.loc[3, "user_id"] = "undefined"
        partial = _upload(df, sb, on_invalid="send")
        assert partial.rejected_count == 1
        # A 5xx storm until the retries give up.
        sb2 = Sandbox()
        sb2.fail_next(100, 503)
        failed = _upload(_frame(5), sb2)
        assert failed.failed_count == 5
        report = amp.validate(df)
        preview = amp.preview(df)
        key = amp.ApiKey(CANARY)
        _assert_clean(ok, partial, failed, report, preview, key, ok.rows, partial.rejected, failed.failed,
                      ok.ledger, amp.last_result(), sb.emulator, sb.emulator.requests)
        assert f"{key}" != CANARY and f"{key!r}" != CANARY
        with pytest.raises(TypeError):
            pickle.dumps(key)
    for w in caught:
        assert CANARY not in str(w.message)
    assert CANARY not in debug_logs.text
    for record in debug_logs.records:
        assert CANARY not in record.getMessage()
        assert CANARY not in repr(record.args)


def test_canary_invalid_api_key(debug_logs: pytest.LogCaptureFixture) -> None:
    sb = Sandbox(SandboxConfig(api_keys={"the-right-key-123"}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(amp.InvalidApiKey) as info:
            _upload(_frame(), sb)
    err = info.value
    _assert_clean(err, err.result, err.result.failed, err.args)
    assert err.result.failed_count == 20
    assert all(CANARY not in str(w.message) for w in caught)
    assert CANARY not in debug_logs.text
    # What the server logged about the requests never has the key either.
    assert all(CANARY not in repr(r) for r in sb.emulator.requests)


def test_canary_request_rejected(debug_logs: pytest.LogCaptureFixture) -> None:
    sb = Sandbox()
    sb.enqueue(400, {"code": 400, "error": "Request missing required field", "missing_field": "api_key"})
    try:
        result = _upload(_frame(5), sb)
    except amp.AmpNotebookError as err:
        _assert_clean(err, getattr(err, "result", None))
    else:
        _assert_clean(result)
    assert CANARY not in debug_logs.text


def test_secret_key_canary(debug_logs: pytest.LogCaptureFixture) -> None:
    from amp_notebook import _session
    from amp_notebook._logging import get_logger

    secret = amp.SecretKey(CANARY)
    _assert_clean(secret, [secret], {"secret_key": secret})
    assert f"{secret}" != CANARY and f"{secret:>30}" != CANARY
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    try:
        _session.set_secret_key(CANARY)  # registers it with the log redactor
        _assert_clean(_session.settings)
        get_logger("test").debug("the secret is %s", CANARY)
    finally:
        _session.reset()
    assert CANARY not in debug_logs.text


SECRET_CANARY = "CANARY-s3cr3t-4d2b8e6f1a"


def test_canary_verify_and_read_export_with_both_keys(debug_logs: pytest.LogCaptureFixture) -> None:
    """Both keys through an upload, a verify that finds lost rows, a refused secret and
    read_export: neither key in any repr, HTML, frame, warning, exception or DEBUG log
    (httpx's and httpcore's included)."""
    from amp_notebook.sandbox import Faults

    config = SandboxConfig(api_keys={CANARY}, secret_keys={SECRET_CANARY}, export_delay_s=0,
                           faults=Faults(p_lose=0.2, seed=1))
    with warnings.catch_warnings(record=True) as caught, Sandbox(config) as sb:
        warnings.simplefilter("always")
        result = amp.upload(_frame(), api_key=CANARY, endpoint=sb.http_url, retry=RetryPolicy.fast(),
                            progress=False)
        report = result.verify(SECRET_CANARY, api_key=CANARY, export_endpoint=sb.export_url,
                               retry=RetryPolicy.fast())
        assert report.missing_count == len(sb.emulator.lost) > 0
        with pytest.raises(amp.ExportError) as refused:
            result.verify("not-the-" + SECRET_CANARY, api_key=CANARY, export_endpoint=sb.export_url)
        frame = amp.read_export(result.sent.started_at, api_key=CANARY, secret_key=SECRET_CANARY,  # type: ignore[union-attr]
                                export_endpoint=sb.export_url)
        texts = [repr(report), report._repr_html_(), repr(report.missing), repr(report.extra),
                 repr(report.rows), repr(frame), frame.to_csv(), repr(result.sent), str(refused.value),
                 repr(refused.value.args), repr(sb.emulator.requests), repr(sb.config)]
    texts += [str(w.message) for w in caught]
    texts.append(debug_logs.text)
    texts += [r.getMessage() for r in debug_logs.records]
    for text in texts:
        assert CANARY not in text and SECRET_CANARY not in text
# -- the identify paths (form bodies) ------------------------------------------------------


class _Recorder(httpx.AsyncBaseTransport):
    """The in-process sandbox, keeping the bodies it was sent (to prove the key is in them)."""

    def __init__(self, sb: Sandbox) -> None:
        self.inner = sb.transport(sleep=False)
        self.bodies: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(await request.aread())
        return await self.inner.handle_async_request(request)


def _users(n: int = 12) -> pd.DataFrame:
    return pd.DataFrame({"user_id": [f"user-{i:05d}" for i in range(n)], "plan": ["pro"] * n, "n": list(range(n))})


def test_canary_identify_and_group_identify(debug_logs: pytest.LogCaptureFixture) -> None:
    from urllib.parse import quote

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb = Sandbox()
        rec = _Recorder(sb)
        common = {"api_key": CANARY, "transport": rec, "retry": RetryPolicy.fast(), "progress": False}
        ok = _users().amplitude.identify(operations={"n": "add"}, **common)
        assert ok.ok
        group = _users().amplitude.group_identify("company", "user_id", **common)
        assert group.ok
        # A 400 bisected down to one refused row, and ambiguous 5xx answers.
        bad = _users().astype(object)
        bad.loc[3, "n"] = "x"
        partial = bad.amplitude.identify(operations={"n": "add"}, on_invalid="send", **common)
        assert partial.rejected_count == 1
        sb.fail_next(1, 500, ingest=True)
        sb.fail_next(1, None)
        ambiguous = _users().amplitude.identify(operations={"n": "add"}, **common)
        assert ambiguous.failed_count == 12
        dry = _users().amplitude.identify(api_key=CANARY, dry_run=True)
        report = _users().amplitude.validate_identify()
        _assert_clean(ok, group, partial, ambiguous, dry, report, ok.rows, partial.rejected, ambiguous.failed,
                      amp.last_result(), sb.emulator, sb.emulator.requests, sb.user_properties(),
                      sb.group_properties())
    # Positive control: the key did travel, percent-encoded, in the form bodies (and only there).
    assert rec.bodies and all(b.startswith(b"api_key=" + quote(CANARY, safe="").encode() + b"&") for b in rec.bodies)
    for w in caught:
        assert CANARY not in str(w.message)
    assert CANARY not in debug_logs.text
    assert "api_key=" not in debug_logs.text  # no body is ever logged


def test_canary_identify_invalid_key(debug_logs: pytest.LogCaptureFixture) -> None:
    sb = Sandbox(SandboxConfig(api_keys={"the-right-key-123"}))
    with pytest.raises(amp.InvalidApiKey) as info:
        _users().amplitude.identify(api_key=CANARY, transport=sb.transport(sleep=False), progress=False)
    err = info.value
    _assert_clean(err, err.result, err.result.failed, err.args)
    assert err.result.failed_count == 12
    assert CANARY not in debug_logs.text
    assert all(CANARY not in repr(r) for r in sb.emulator.requests)


# -- early refusals: no frame below the caller's holds a plain key ---------------------------


def _package_frames(call: object) -> str:
    """``call()``'s ConfigurationError and the locals of each of its frames in the package
    (what ``%xmode Verbose`` prints; the caller's own frames may hold the key)."""
    import traceback

    with pytest.raises(amp.ConfigurationError) as info:
        call()  # type: ignore[operator]
    trace = traceback.TracebackException.from_exception(info.value, capture_locals=True)
    frames = [f for f in trace.stack if Path(f.filename).resolve().is_relative_to(PKG)]
    assert frames, "refused before the package was entered"
    return "\n".join([str(info.value), *(f"{f.filename}:{f.name} {f.locals}" for f in frames)])


def test_canary_keys_never_in_an_early_refusal_of_verify_or_read_export() -> None:
    """A bad argument refused before anything is sent (a dry run verified, a changed frame,
    an unknown region, a bad hour) shows neither key in any package frame of its verbose traceback."""
    from amp_notebook._export import read_export
    from amp_notebook._verify_run import verify_upload

    sb = Sandbox()
    dry = amp.upload(_frame(), api_key=CANARY, dry_run=True, progress=False)
    sent = amp.upload(_frame(), api_key=CANARY, endpoint=ENDPOINT, transport=sb.transport(sleep=False),
                      retry=RetryPolicy.fast(), progress=False)
    assert sent.ok and sent.sent is not None
    calls = [
        lambda: dry.verify(SECRET_CANARY, api_key=CANARY),  # nothing was sent
        lambda: sent.verify(SECRET_CANARY, api_key=CANARY, region="mars"),
        lambda: sent.verify(SECRET_CANARY, api_key=CANARY, region="us", start="not-an-hour"),
        lambda: verify_upload(_frame(3), list(range(20)), sent.sent, SECRET_CANARY, api_key=CANARY),  # changed
        lambda: verify_upload(_frame(), [], None, SECRET_CANARY, api_key=CANARY),
        lambda: amp.read_export("not-an-hour", api_key=CANARY, secret_key=SECRET_CANARY),
        lambda: amp.read_export("20260101T00", api_key=CANARY, secret_key=SECRET_CANARY, region="mars"),
        lambda: read_export("not-an-hour", api_key=CANARY, secret_key=SECRET_CANARY),
    ]
    for call in calls:
        text = _package_frames(call)
        assert "secret_key" in text  # the frames and their locals are there ...
        assert CANARY not in text and SECRET_CANARY not in text, text  # ... the keys are not
