import pickle

import pytest

from amp_notebook import ApiKey, ConfigurationError
from amp_notebook._config import (
    Limits,
    Pacing,
    SecretKey,
    resolve_api_key,
    resolve_endpoint,
    resolve_secret_key,
    tier_settings,
)

SECRET = "canary-0123456789abcdef"


def test_api_key_never_shows_itself():
    key = ApiKey(SECRET)
    for text in (str(key), repr(key), f"{key}", f"{key!r}", f"{key:>40}", str([key]), str({"k": key})):
        assert SECRET not in text
        assert "**********" in text
    assert key.reveal() == SECRET


def test_api_key_refuses_pickle_and_mutation():
    key = ApiKey(SECRET)
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(AttributeError):
        key._value = "x"  # type: ignore[misc]


def test_api_key_from_environment(monkeypatch):
    monkeypatch.setenv("AMPLITUDE_API_KEY", SECRET)
    assert resolve_api_key(None).reveal() == SECRET
    monkeypatch.delenv("AMPLITUDE_API_KEY")
    with pytest.raises(ConfigurationError, match="AMPLITUDE_API_KEY"):
        resolve_api_key(None)
    assert resolve_api_key(None, required=False) is None


def test_secret_key_never_shows_itself_and_never_mixes_with_the_api_key(monkeypatch):
    secret = SecretKey(SECRET)
    for text in (str(secret), repr(secret), f"{secret}", f"{secret!r}", str([secret])):
        assert SECRET not in text
    assert repr(secret) == "SecretKey('**********')"
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(AttributeError):
        secret._value = "x"  # type: ignore[misc]
    assert secret != ApiKey(SECRET)
    with pytest.raises(ConfigurationError, match="secret key cannot be used as the API key"):
        ApiKey(secret)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="API key cannot be used as the secret key"):
        SecretKey(ApiKey(SECRET))
    assert SecretKey(secret) == secret
    monkeypatch.setenv("AMPLITUDE_SECRET_KEY", SECRET)
    assert resolve_secret_key(None) == secret
    monkeypatch.delenv("AMPLITUDE_SECRET_KEY")
    with pytest.raises(ConfigurationError, match="AMPLITUDE_SECRET_KEY"):
        resolve_secret_key(None)
    assert resolve_secret_key(None, required=False) is None


@pytest.mark.parametrize(
    ("region", "api", "url"),
    [
        ("us", "http", "https://api2.amplitude.com/2/httpapi"),
        ("eu", "http", "https://api.eu.amplitude.com/2/httpapi"),
        ("us", "batch", "https://api2.amplitude.com/batch"),
        ("EU", "batch", "https://api.eu.amplitude.com/batch"),
    ],
)
def test_endpoints_from_the_reference(region, api, url):
    assert resolve_endpoint(region, api).url == url


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/2/httpapi", "http://localhost/x", "http://[::1]:9/x"])
def test_plain_http_allowed_on_loopback(url):
    assert resolve_endpoint(endpoint=url).url == url


@pytest.mark.parametrize("url", ["http://example.com/2/httpapi", "http://10.0.0.1/x", "ftp://127.0.0.1/x", "nonsense"])
def test_plain_http_refused_elsewhere(url):
    with pytest.raises(ConfigurationError):
        resolve_endpoint(endpoint=url)


def test_bad_region_and_api():
    with pytest.raises(ConfigurationError, match="region"):
        resolve_endpoint("asia")
    with pytest.raises(ConfigurationError, match="api"):
        resolve_endpoint("us", "rest")


def test_limits_follow_the_reference():
    http, batch = Limits.for_api("http"), Limits.for_api("batch")
    assert http.max_events < 2000 and http.max_body_bytes < 1_000_000
    assert batch.max_body_bytes < 20_000_000 and batch.max_body_bytes > http.max_body_bytes
    assert Pacing.for_api("http").device_eps == 30 and Pacing.for_api("batch").device_eps == 1000


def test_starter_tier():
    assert tier_settings("starter") == {"max_events": 10, "project_eps": 1000.0, "project_rps": 100.0}
    with pytest.raises(ConfigurationError):
        tier_settings("platinum")
