"""identify() / group_identify() end to end, over a real socket, against the sandbox server.

The sandbox applies operations as identify-api.md describes and keeps the
properties, so the tests compare what Amplitude would hold with what the
frame says, and, under faults, check that every row is settled and that no
add was applied twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from builders import assert_settled

import amp_notebook as amp
from amp_notebook import Pacing, RetryPolicy
from amp_notebook._form import AMBIGUOUS_ADD
from amp_notebook.sandbox import Faults, Sandbox, SandboxConfig

KEY = "identify-key-0123456789"
FAST = RetryPolicy(attempts=30, initial_s=0.001, max_s=0.01, budget_s=60.0, throttle_pause_s=0.02)


def users(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "user_id": [f"user-{i:05d}" for i in range(n)],
        "plan": rng.choice(["free", "pro", "team"], n),
        "logins": rng.integers(0, 50, n),
        "ltv": np.round(rng.random(n) * 100, 2),
        "company": rng.choice(["Acme", "Globex", None], n),
        "signup": pd.Timestamp("2025-06-01") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
    }, index=pd.RangeIndex(100, 100 + n))


def test_identify_sets_every_users_properties(sandbox: Sandbox) -> None:
    df = users(3000)
    result = df.amplitude.identify(api_key=KEY, endpoint=sandbox.identify_url, operations={"logins": "add"},
                                   progress=False)
    assert result.ok and result.ingested_count == 3000 and result.api == "identify"
    assert_settled(result, df)
    assert result.requests == 3  # at most 1024 identifications per request
    got = sandbox.user_properties().set_index("user_id")  # type: ignore[union-attr]
    assert len(got) == 3000
    assert got.loc[df["user_id"], "plan"].tolist() == df["plan"].tolist()
    assert got.loc[df["user_id"], "logins"].tolist() == df["logins"].tolist()
    assert got.loc[df["user_id"], "ltv"].tolist() == df["ltv"].tolist()
    # A missing company was left unchanged (absent), never set to null.
    has = df["company"].notna().to_numpy()
    assert got.loc[df["user_id"][has], "company"].tolist() == df["company"][has].tolist()
    assert got.loc[df["user_id"][~has], "company"].isna().all()
    assert got.loc[df["user_id"], "signup"].tolist() == df["signup"].dt.strftime("%Y-%m-%dT%H:%M:%S").tolist()
    # Sending again: set is idempotent, add is not (the sandbox applies it again, as Amplitude).
    df.amplitude.identify(api_key=KEY, endpoint=sandbox.identify_url, operations={"logins": "add"}, progress=False)
    again = sandbox.user_properties().set_index("user_id")  # type: ignore[union-attr]
    assert again.loc[df["user_id"], "plan"].tolist() == df["plan"].tolist()
    assert again.loc[df["user_id"], "logins"].tolist() == (2 * df["logins"]).tolist()
    assert "add/append/prepend are applied again by every resend" in repr(result)
    assert "applied again by every resend" in result._repr_html_() and "identifications/s" in result._repr_html_()


def test_mixed_operations_and_later_rows_win(sandbox: Sandbox) -> None:
    df = pd.DataFrame({
        "user_id": ["user-00001", "user-00002", "user-00001"],
        "plan": ["free", "pro", "team"], "first_seen": ["2026-01-01", "2026-02-01", "2026-03-01"],
        "logins": [1, 5, 2], "tags": ["a", "b", ["c", "a"]], "old": [None, "x", None],
    })
    sandbox.emulator.handle("/identify", b"", {}, 0.0)  # a stray request: answered 400, harmless
    result = df.amplitude.identify(
        api_key=KEY, endpoint=sandbox.identify_url, progress=False, unset_missing=["old"],
        operations={"first_seen": "setOnce", "logins": "add", "tags": "postInsert"},
    )
    assert result.ok
    assert sandbox.user_properties("user-00001") == {
        "plan": "team", "first_seen": "2026-01-01", "logins": 3, "tags": ["a", "c"]}
    assert sandbox.user_properties("user-00002") == {"plan": "pro", "first_seen": "2026-02-01", "logins": 5,
                                                      "tags": ["b"], "old": "x"}


def test_invalid_rows_are_skipped_with_reasons(sandbox: Sandbox) -> None:
    df = pd.DataFrame({"user_id": ["user-00001", "null", None, "user-00004"], "logins": [1, 2, 3, "x"]})
    result = df.amplitude.identify(api_key=KEY, endpoint=sandbox.identify_url, operations={"logins": "add"},
                                   progress=False)
    assert result.rows["status"].tolist() == ["ingested", "skipped", "skipped", "skipped"]
    assert result.rows["reason"].tolist()[1:] == [
        "invalid: id_invalid", "invalid: id_missing", "invalid: add_not_a_number"]
    with pytest.raises(amp.ValidationError):
        df.amplitude.identify(api_key=KEY, endpoint=sandbox.identify_url, on_invalid="raise", progress=False)


def test_sent_anyway_the_server_refusal_is_bisected_to_the_bad_row(sandbox: Sandbox) -> None:
    df = pd.DataFrame({"user_id": [f"user-{i:05d}" for i in range(40)], "logins": list(range(40))}, dtype=object)
    df.loc[17, "logins"] = "seventeen"
    result = df.amplitude.identify(api_key=KEY, endpoint=sandbox.identify_url, operations={"logins": "add"},
                                   on_invalid="send", progress=False)
    assert result.rejected_count == 1 and result.ingested_count == 39
    assert result.rejected.index.tolist() == [17]
    assert "$add takes numbers" in result.rejected["_amplitude_message"].iloc[0]
    assert sandbox.user_properties("user-00017") is None


def test_dry_run_needs_no_key_and_sends_nothing() -> None:
    result = users(2500).amplitude.identify(dry_run=True, region="eu")
    assert result.dry_run and result.batches == 3 and result.requests == 0
    assert result.endpoint == "Identify (EU)"
    assert "would send 2,500 identifications in 3 requests" in repr(result)


@pytest.mark.parametrize(("region", "url"), [("us", "https://api2.amplitude.com/identify"),
                                             ("eu", "https://api.eu.amplitude.com/identify")])
def test_regions_use_the_documented_hosts(region: str, url: str) -> None:
    sb = Sandbox()  # in-process: the transport answers whatever the host

    class Seen(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.urls: list[str] = []

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            self.urls.append(str(request.url))
            return await sb.transport(sleep=False).handle_async_request(request)

    seen = Seen()
    result = users(3).amplitude.identify(api_key=KEY, region=region, transport=seen, progress=False)
    assert result.ok and seen.urls == [url]
    group = users(3).amplitude.group_identify("plan", "user_id", api_key=KEY, region=region, transport=seen,
                                              progress=False)
    assert group.ok and seen.urls[-1] == url.replace("/identify", "/groupidentify")
    assert group.endpoint == f"Group Identify ({region.upper()})"


def test_group_identify_over_the_socket(sandbox: Sandbox) -> None:
    n = 700
    accounts = pd.DataFrame({"org_id": [f"org-{i:04d}" for i in range(n)],
                             **{f"p{j}": [f"v{i}-{j}" for i in range(n)] for j in range(5)},
                             "seats": np.arange(n)})
    result = accounts.amplitude.group_identify(group_type="company", group_value="org_id", api_key=KEY,
                                               endpoint=sandbox.group_identify_url, operations={"seats": "add"},
                                               progress=False)
    assert result.ok and result.ingested_count == n
    # At most 1024 group properties per request: 6 per group -> 170 groups per request.
    assert result.requests == -(-n // 170)
    assert sandbox.emulator.counters.get("status_413", 0) == 0
    got = sandbox.group_properties()
    assert len(got) == n  # type: ignore[arg-type]
    assert sandbox.group_properties("company", "org-0042") == {**{f"p{j}": f"v42-{j}" for j in range(5)}, "seats": 42}


def test_the_429_pause_is_identifys_15_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    from amp_notebook import _identify_upload

    seen: dict[str, Any] = {}

    async def capture(plan: Any, clocks: Any) -> amp.UploadResult:
        seen["settings"] = plan.settings
        return amp.UploadResult(frame=plan.frame, ledger=plan.ledger)

    monkeypatch.setattr(_identify_upload, "send", capture)
    users(2).amplitude.identify(api_key=KEY, progress=False)
    assert seen["settings"].retry.throttle_pause_s == 15.0
    assert seen["settings"].wire.content_type == "application/x-www-form-urlencoded"
    assert seen["settings"].limits.max_events == 1024


def test_429s_pause_the_throttled_users_and_every_row_lands_once(sandbox: Sandbox) -> None:
    sandbox.enqueue(429)  # names every user of the request (throttled_users, throttled_events)
    sandbox.enqueue(429)
    df = pd.DataFrame({"user_id": [f"user-{i % 3:05d}" for i in range(30)], "n": [4**k for k in range(30)]})
    result = df.amplitude.identify(api_key=KEY, endpoint=sandbox.identify_url, operations={"n": "add"},
                                   retry=FAST, progress=False)
    assert result.ok and result.throttled == 2 and result.ledger.pauses == 6
    for u in range(3):
        assert sandbox.user_properties(f"user-{u:05d}") == {"n": sum(4**k for k in range(u, 30, 3))}


def digits(value: int, rows: int) -> list[int]:
    out = []
    for _ in range(rows):
        value, d = divmod(value, 4)
        out.append(d)
    assert value == 0
    return out


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_faults_every_row_settled_and_no_add_applied_twice(seed: int) -> None:
    """5xx before and after applying, dropped connections before and after, 429s.

    Row k of an even user adds 4**k to ``n`` and sets ``last`` = k: the final ``n`` in
    base 4 says which rows were applied (a digit 2 would be an add applied twice), and
    ``last`` must be the last applied row (rows of a user go in order). Odd users only
    set ``last``: their rows are retried until they land.
    """
    per_user, n_users = 6, 150
    rows = [(f"user-{u:05d}", k) for k in range(per_user) for u in range(n_users)]
    df = pd.DataFrame({"user_id": [u for u, _ in rows], "last": [k for _, k in rows],
                       "n": [4**k if int(u[-1]) % 2 == 0 else None for u, k in rows]})
    faults = Faults(p_500_after=0.08, p_502_after=0.04, p_503_before=0.08, p_drop_before=0.04, p_drop_after=0.04,
                    seed=seed)
    config = SandboxConfig(device_eps=40, window_s=0.5, limit_mode="strict", faults=faults)
    with Sandbox(config) as sb:
        for _ in range(3):
            sb.enqueue(429)  # and some 429s (scripted: the first requests)
        result = df.amplitude.identify(api_key=KEY, endpoint=sb.identify_url, operations={"n": "add"},
                                       pacing=Pacing(device_eps=1000), retry=FAST, progress=False, concurrency=4,
                                       max_per_request=12)
        assert_settled(result, df)
        status = result.rows["status"].to_numpy()
        reason = result.rows["reason"].to_numpy()
        assert set(status) <= {"ingested", "failed"}
        assert result.throttled > 0 and result.retries > 0
        assert (reason == AMBIGUOUS_ADD).any()
        for u in range(1, n_users, 2):  # set only: every row lands, the last wins
            assert sb.user_properties(f"user-{u:05d}") == {"last": per_user - 1}
            assert set(status[u::n_users]) == {"ingested"}
        for u in range(0, n_users, 2):
            props = sb.user_properties(f"user-{u:05d}") or {}
            applied = digits(int(props.get("n", 0)), per_user)
            assert max(applied) <= 1, (u, applied)  # no add applied twice
            for k in range(per_user):
                pos = k * n_users + u
                if status[pos] == "ingested":
                    assert applied[k] == 1
                elif reason[pos] != AMBIGUOUS_ADD:
                    assert applied[k] == 0, (u, k, reason[pos])  # failed without doubt: not applied
            done = [k for k in range(per_user) if applied[k]]
            assert props.get("last") == (done[-1] if done else None)  # in order: the last applied wins
        # Rows held back say so; resending them is the user's call.
        held = result.failed[result.failed["_amplitude_reason"] == AMBIGUOUS_ADD]
        assert held["_amplitude_message"].str.contains("may have applied").all()


def test_set_only_rows_are_retried_after_ambiguous_answers(sandbox: Sandbox) -> None:
    sandbox.enqueue(500, ingest=True)
    sandbox.enqueue(None)  # dropped
    df = users(50)[["user_id", "plan"]]
    result = df.amplitude.identify(api_key=KEY, endpoint=sandbox.identify_url, retry=FAST, progress=False)
    assert result.ok and result.retries == 2
    got = sandbox.user_properties().set_index("user_id")  # type: ignore[union-attr]
    assert got.loc[df["user_id"], "plan"].tolist() == df["plan"].tolist()


def test_resend_ambiguous_opt_in(sandbox: Sandbox) -> None:
    sandbox.enqueue(500, ingest=True)  # applied, answer lost
    df = pd.DataFrame({"user_id": ["user-00001"], "n": [1]})
    result = df.amplitude.identify(api_key=KEY, endpoint=sandbox.identify_url, operations={"n": "add"},
                                   retry=FAST, progress=False, resend_ambiguous=True)
    assert result.ok
    assert sandbox.user_properties("user-00001") == {"n": 2}  # what the default protects against
    assert "some may have been applied twice" in repr(result)


def test_interrupt_marks_adds_in_flight_as_ambiguous() -> None:
    started = asyncio.Event()

    class Hang(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            started.set()
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

    df = pd.DataFrame({"user_id": [f"user-{i:05d}" for i in range(2000)], "plan": ["a"] * 2000,
                       "n": [1] * 1000 + [None] * 1000})

    async def main() -> None:
        me = asyncio.current_task()
        assert me is not None

        async def stop() -> None:
            await started.wait()
            me.cancel()  # what the notebook's stop button does to the cell's task

        keep = asyncio.ensure_future(stop())
        await df.amplitude.identify_async(api_key=KEY, transport=Hang(), operations={"n": "add"},
                                          progress=False, concurrency=1)
        del keep

    # UploadInterrupted is a KeyboardInterrupt: asyncio carries it out of the loop.
    with pytest.raises(amp.UploadInterrupted) as info:
        asyncio.run(main())
    assert "ambiguous_add" in str(info.value)
    result = info.value.result
    reasons = result.rows["reason"]
    # The first request (1024 rows, all with an add) was in flight: may have been applied.
    assert (reasons.iloc[:1000] == AMBIGUOUS_ADD).all()
    assert (reasons.iloc[1000:] == "interrupted").all()
    assert amp.last_result() is result


def test_endpoints_name_their_api(sandbox: Sandbox) -> None:
    # A base URL gets the API's path; a path naming another API is refused, both ways.
    result = users(3).amplitude.identify(api_key=KEY, endpoint=sandbox.url, progress=False)
    assert result.ok and sandbox.emulator.requests[-1].path == "/identify"
    with pytest.raises(amp.ConfigurationError, match="HTTP V2 API's path"):
        users(3).amplitude.identify(api_key=KEY, endpoint=sandbox.http_url, progress=False)
    events = pd.DataFrame({"user_id": ["user-00001"], "event_type": ["Play"]})
    with pytest.raises(amp.ConfigurationError, match="Identify API's path"):
        events.amplitude.upload(api_key=KEY, endpoint=sandbox.identify_url, progress=False)


def test_progress_counts_identifications(sandbox: Sandbox) -> None:
    from amp_notebook._progress import format_status

    seen: list[Any] = []
    result = users(30).amplitude.identify(api_key=KEY, endpoint=sandbox.identify_url, progress=seen.append)
    assert result.ok and seen and seen[-1].phase == "done" and seen[-1].ingested == 30
    assert format_status(seen[-1], final=True)[0] == "30/30 identifications (100%)"


def test_the_session_sandbox_gets_identifies_too() -> None:
    """%amplitude sandbox points uploads at a sandbox: identify goes to its /identify, with its dummy key."""
    from amp_notebook import _session

    sb = Sandbox(SandboxConfig(api_keys={_session.SANDBOX_KEY})).start()  # refuses any other key
    try:
        _session.set_key(KEY)  # a "real" key in the session: it must not go to the sandbox
        _session.use_sandbox(sb)
        result = users(5).amplitude.identify(progress=False)
        assert result.ok and result.endpoint.startswith("Identify (127.0.0.1:")
        assert sb.user_properties("user-00000") is not None
        assert [r.path for r in sb.emulator.requests] == ["/identify"]
    finally:
        _session.reset()
