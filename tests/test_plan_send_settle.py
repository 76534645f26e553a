"""plan -> send -> settle: one options value, signatures derived from it, a pure plan, dry runs
that give a real run's verdicts (issue 16, item 1)."""

from __future__ import annotations

import asyncio
import inspect
import pydoc
import socket
import time
from dataclasses import fields, replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from builders import events

import amp_notebook as amp
from amp_notebook import (
    ApiKey,
    IdentifyOptions,
    RetryPolicy,
    UploadOptions,
    _identify_upload,
    _upload,
)
from amp_notebook._config import Limits, resolve_endpoint
from amp_notebook._send import Target
from amp_notebook.sandbox import Sandbox

KEY = "plan-key-0123456789"
NOW_MS = 1_800_000_000_000
FAST = RetryPolicy(attempts=3, initial_s=0.01, max_s=0.05)


def _shown(sig: inspect.Signature) -> dict[str, Any]:
    return {name: p.default for name, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _event_entries() -> dict[str, Any]:
    df = pd.DataFrame()
    return {"amp_notebook.upload": amp.upload, "amp_notebook.upload_async": amp.upload_async,
            "df.amplitude.upload": df.amplitude.upload, "df.amplitude.upload_async": df.amplitude.upload_async}


def _identify_entries() -> dict[str, Any]:
    df = pd.DataFrame()
    return {"amp_notebook.identify": amp.identify, "amp_notebook.identify_async": amp.identify_async,
            "df.amplitude.identify": df.amplitude.identify,
            "df.amplitude.identify_async": df.amplitude.identify_async}


@pytest.mark.parametrize("name", list(_event_entries()))
def test_every_events_entry_shows_every_option_with_its_default(name: str) -> None:
    entry = _event_entries()[name]
    shown = _shown(inspect.signature(entry))
    for f in fields(UploadOptions):
        assert shown[f.name] == f.default, (name, f.name)
    assert shown["options"] is None
    assert list(inspect.signature(entry).parameters)[:2] == (["api_key", "mapping"] if "df." in name
                                                               else ["df", "api_key"])
    text = pydoc.render_doc(entry, renderer=pydoc.plaintext)
    for f in fields(UploadOptions):
        assert f"{f.name}={f.default!r}" in text, (name, f.name)  # the options part of the docstring


@pytest.mark.parametrize("name", list(_identify_entries()))
def test_every_identify_entry_shows_every_option_with_its_default(name: str) -> None:
    shown = _shown(inspect.signature(_identify_entries()[name]))
    assert {f.name: f.default for f in fields(IdentifyOptions)}.items() <= shown.items()


def test_group_identify_shows_the_options_but_its_own() -> None:
    for entry in (amp.group_identify, amp.group_identify_async, pd.DataFrame().amplitude.group_identify):
        params = inspect.signature(entry).parameters
        assert "kind" not in params
        assert params["group_type"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert {f.name for f in fields(IdentifyOptions)} - {"kind"} <= set(params)


def test_the_dask_entries_show_the_options_and_their_own() -> None:
    pytest.importorskip("distributed")
    import dask.dataframe as dd

    import amp_notebook.dask as amp_dask

    ddf = dd.from_pandas(events(4), npartitions=1)
    for entry in (amp_dask.upload, amp_dask.upload_async, ddf.amplitude.upload, ddf.amplitude.upload_async):
        shown = _shown(inspect.signature(entry))
        assert {f.name: f.default for f in fields(UploadOptions)}.items() <= shown.items()
        assert {"client", "npartitions", "assume_partitioned", "shuffle_method"} <= set(shown)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'npartition'; did you mean 'npartitions'"):
        ddf.amplitude.upload(npartition=2)


@pytest.mark.parametrize(
    "call",
    [
        lambda df: df.amplitude.upload(regoin="eu", dry_run=True),
        lambda df: amp.upload(df, regoin="eu", dry_run=True),
        lambda df: asyncio.run(df.amplitude.upload_async(regoin="eu", dry_run=True)),
    ],
    ids=["accessor", "function", "async"],
)
def test_an_unknown_option_is_a_type_error_naming_the_nearest(call: Any) -> None:
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'regoin'; did you mean 'region'\?"):
        call(events(2))


def test_an_unknown_identify_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"identify\(\) got an unexpected keyword argument 'operatoin'; did you "
                                        r"mean 'operation'\?"):
        events(2).amplitude.identify(operatoin="add", dry_run=True)


def test_a_value_out_of_range_is_checked_in_one_place() -> None:
    with pytest.raises(amp.ConfigurationError, match="on_invalid must be 'skip', 'raise' or 'send'"):
        UploadOptions(on_invalid="drop")  # type: ignore[arg-type]
    with pytest.raises(amp.ConfigurationError, match="concurrency must be at least 1"):
        IdentifyOptions(concurrency=0)
    with pytest.raises(amp.ConfigurationError, match="sample must be a positive number of rows"):
        UploadOptions(sample=0)
    with pytest.raises(amp.ConfigurationError, match="tier must be one of"):
        UploadOptions(tier="platinum")


def test_a_ready_options_value_is_reused_and_keywords_win(sandbox: Sandbox) -> None:
    df = events(30)
    options = UploadOptions(endpoint=sandbox.http_url, progress=False, retry=FAST, max_events_per_request=7)
    result = df.amplitude.upload(api_key=KEY, options=options)
    assert result.ingested_count == 30 and result.requests == 5  # ceil(30 / 7)
    dry = amp.upload(df, options=options, dry_run=True)
    assert dry.dry_run and dry.batches == 5 and len(sandbox.ingested) == 30
    with pytest.raises(TypeError, match="unexpected keyword argument 'options'"):
        UploadOptions.from_keywords("upload", {"options": options})
    with pytest.raises(TypeError, match=r"upload\(\) takes options=UploadOptions\(...\), not IdentifyOptions"):
        df.amplitude.upload(options=IdentifyOptions(dry_run=True))


def _target() -> Target:
    return Target(resolve_endpoint("us", "http", "http://127.0.0.1:9/2/httpapi"), ApiKey(KEY))


def _frame() -> pd.DataFrame:
    df = events(40, users=7)
    df.loc[1003, "user_id"] = None  # skipped: id_missing
    df.loc[1010, "event_type"] = ""  # skipped
    return df.sample(frac=1.0, random_state=1)  # out of time order: the plan sorts per device


def _as_values(plan: Any) -> dict[str, Any]:
    """What a plan decided, as plain values (a plan holds a frame and closures)."""
    settings = replace(plan.settings, describe=None)  # the describer is a fresh closure per plan
    return {
        "rows": amp.UploadResult(frame=plan.frame, ledger=plan.ledger).rows.to_dict("list"),
        "failures": plan.validation.failures.to_dict("list"), "total": plan.total, "envelope": plan.envelope,
        "limits": plan.limits, "settings": settings, "pacing": plan.pacing,
        "partitions": (plan.partitions.events, plan.partitions.hashes.tolist(), plan.partitions.totals.tolist()),
        "payloads": [(c.partitions, c.positions.tolist(), c.payloads) for c in plan.chunks()],
    }


def test_plan_is_pure_and_gives_equal_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    def no(*args: object, **kw: object) -> None:
        raise AssertionError("plan() must not read the clock or open a socket")

    df = _frame()
    options = UploadOptions(on_invalid="skip", progress=False, transport=None)
    with monkeypatch.context() as m:
        for name in ("time", "monotonic", "perf_counter"):
            m.setattr(time, name, no)
        m.setattr(socket, "socket", no)
        first = _upload.plan(df, None, options, _target(), now_ms=NOW_MS)
        second = _upload.plan(df, None, options, _target(), now_ms=NOW_MS)
        a, b = _as_values(first), _as_values(second)
    assert a == b
    assert a["rows"]["status"].count("skipped") == 2
    assert a["total"] == len(df) - 2 and len(np.concatenate([p for _, p, _ in a["payloads"]])) == a["total"]
    assert first.settings is not None and first.settings.api_key == ApiKey(KEY)


def test_identify_plan_is_pure_and_gives_equal_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    users = pd.DataFrame({"user_id": [f"user-{i:05d}" for i in range(20)], "plan": ["pro", "free"] * 10})
    options = IdentifyOptions(progress=False)
    to = Target(resolve_endpoint("us", "identify", None, apis=("identify",)), ApiKey(KEY))
    with monkeypatch.context() as m:
        m.setattr(socket, "socket", lambda *a, **k: pytest.fail("no socket"))
        first, second = (_identify_upload.plan(users, None, options, to) for _ in range(2))
        assert _as_values(first) == _as_values(second)


def _big_event_frame() -> pd.DataFrame:
    """Valid events but one over the HTTP V2 request limit on its own, one invalid."""
    df = events(8, users=3)
    df["event_properties.big"] = [["x" * 1000] * 1100 if i == 2 else ["ok"] for i in range(len(df))]
    df.loc[1005, "user_id"] = None
    return df


def test_a_dry_run_gives_a_real_runs_verdicts(sandbox: Sandbox) -> None:
    df = _big_event_frame()
    dry = df.amplitude.upload(dry_run=True, progress=False).rows
    real = df.amplitude.upload(api_key=KEY, endpoint=sandbox.http_url, progress=False, retry=FAST).rows
    decided = dry["status"] != "would send"  # what the server alone decides is left out
    assert dry.loc[decided].drop(columns="request").equals(real.loc[decided].drop(columns="request"))
    assert dry.loc[1002, "status"] == "rejected" and dry.loc[1002, "reason"] == "event_too_large"
    assert f"over the {Limits.for_api('http').max_body_bytes:,}-byte request limit" in dry.loc[1002, "message"]
    assert dry.loc[1005, "status"] == "skipped"
    assert set(real.loc[~decided, "status"]) == {"ingested"}


def test_an_identify_dry_run_gives_a_real_runs_verdicts(sandbox: Sandbox) -> None:
    users = pd.DataFrame({"user_id": [f"user-{i:05d}" for i in range(6)],
                          "tags": [["t" * 1000] * 1100 if i == 3 else ["a"] for i in range(6)]})
    url = sandbox.url.rstrip("/") + "/identify"
    dry = users.amplitude.identify(dry_run=True, progress=False).rows
    real = users.amplitude.identify(api_key=KEY, endpoint=url, progress=False, retry=FAST).rows
    decided = dry["status"] != "would send"
    assert decided.sum() == 1
    assert dry.loc[decided].drop(columns="request").equals(real.loc[decided].drop(columns="request"))
    assert dry.loc[3, "reason"] == "identification_too_large"
