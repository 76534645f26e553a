"""Endpoints as users type them (issue 17, items 4 and 11).

``amp-notebook sandbox`` prints its base URL first; passing it as the endpoint used to
fail every row with "Not found". A base URL now gets the API's path appended, and a
URL whose path names an API (``/2/httpapi``, ``/batch``) is labelled and limited as
that API, whatever ``api`` the session says.
"""

from __future__ import annotations

import pandas as pd
import pytest

from amp_notebook import ConfigurationError, _session
from amp_notebook._config import resolve_endpoint
from amp_notebook.cli import main
from amp_notebook.sandbox import Sandbox

KEY = "test-key-endpoint-paths"


@pytest.mark.parametrize(
    ("given", "api", "url", "label"),
    [
        ("http://127.0.0.1:8000", "http", "http://127.0.0.1:8000/2/httpapi", "HTTP V2 (127.0.0.1:8000)"),
        ("http://127.0.0.1:8000/", "http", "http://127.0.0.1:8000/2/httpapi", "HTTP V2 (127.0.0.1:8000)"),
        ("http://127.0.0.1:8000", "batch", "http://127.0.0.1:8000/batch", "Batch (127.0.0.1:8000)"),
        ("https://api2.amplitude.com", "http", "https://api2.amplitude.com/2/httpapi", "HTTP V2 (api2.amplitude.com)"),
        # the path names the API: it wins over the api argument
        ("http://localhost:9/2/httpapi", "batch", "http://localhost:9/2/httpapi", "HTTP V2 (localhost:9)"),
        ("http://localhost:9/batch/", "http", "http://localhost:9/batch/", "Batch (localhost:9)"),
        # any other path is somebody's proxy: kept as given
        ("https://proxy.example.com/amplitude/in", "batch", "https://proxy.example.com/amplitude/in",
         "Batch (proxy.example.com)"),
    ],
)
def test_base_urls_get_the_api_path(given: str, api: str, url: str, label: str) -> None:
    ep = resolve_endpoint("us", api, given)
    assert (ep.url, ep.label) == (url, label)
    assert ep.api == ("batch" if label.startswith("Batch") else "http")


def test_query_strings_and_bad_urls() -> None:
    with pytest.raises(ConfigurationError, match="http"):
        resolve_endpoint("us", "http", "ftp://127.0.0.1/")
    with pytest.raises(ConfigurationError, match="plain http"):
        resolve_endpoint("us", "http", "http://example.com")


def test_upload_to_the_sandbox_base_url() -> None:
    df = pd.DataFrame({"user_id": ["user-00001", "user-00002"], "event_type": ["A", "B"],
                       "time": pd.to_datetime(["2026-03-04", "2026-03-05"])})
    with Sandbox() as sb:
        result = df.amplitude.upload(api_key=KEY, endpoint=sb.url, progress=False)
        assert result.ingested_count == 2
        batch = df.amplitude.upload(api_key=KEY, endpoint=sb.url + "/", api="batch", progress=False)
        assert batch.ingested_count == 2 and batch.endpoint.startswith("Batch")
        assert [r.path for r in sb.emulator.requests] == ["/2/httpapi", "/batch"]


def test_cli_upload_to_the_sandbox_base_url(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AMPLITUDE_API_KEY", KEY)
    path = tmp_path / "events.csv"
    pd.DataFrame({"user_id": ["user-00001"], "event_type": ["A"], "time": ["2026-03-04T10:00:00Z"]}).to_csv(
        path, index=False
    )
    with Sandbox() as sb:
        assert main(["upload", str(path), "--endpoint", sb.url, "--no-progress"]) == 0
        assert len(sb.ingested) == 1
    assert "ingested 1 " in capsys.readouterr().out


def test_session_api_batch_with_an_http_v2_endpoint_is_labelled_http_v2() -> None:
    _session.reset()
    try:
        _session.set_endpoint("http://127.0.0.1:8000/2/httpapi")
        _session.set_api("batch")
        ep = _session.effective_endpoint()
        assert ep.label == "HTTP V2 (127.0.0.1:8000)" and ep.api == "http"
        assert any("HTTP V2" in line and "path" in line for line in _session.describe())
        _session.set_endpoint("http://127.0.0.1:8000")  # a base URL follows the session's api
        assert _session.effective_endpoint().url == "http://127.0.0.1:8000/batch"
    finally:
        _session.reset()
