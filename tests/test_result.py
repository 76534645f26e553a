"""The row ledger and UploadResult's frames, without any upload (the module is pure)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from amp_notebook._result import FAILED, INGESTED, REJECTED, SKIPPED, RowLedger, UploadResult


def _result(n: int) -> UploadResult:
    frame = pd.DataFrame({"user_id": [f"user-{i}" for i in range(n)]}, index=pd.RangeIndex(100, 100 + n))
    return UploadResult(frame=frame, ledger=RowLedger(n))


def test_every_row_has_its_status_reason_message_and_request() -> None:
    r = _result(6)
    led = r.ledger
    led.mark([0, 1], INGESTED, request=1)
    led.mark_each([(2, "invalid_field", "time: not an integer"), (3, "device_silenced", "")], REJECTED, request=2)
    led.mark([4], SKIPPED, "invalid: missing_id", "user_id: empty")
    led.fail_pending("stopped", "not sent")
    rows = r.rows
    assert rows["status"].tolist() == ["ingested", "ingested", "rejected", "rejected", "skipped", "failed"]
    assert rows["reason"].isna().tolist() == [True, True, False, False, False, False]
    assert rows["reason"].tolist()[2:] == ["invalid_field", "device_silenced", "invalid: missing_id", "stopped"]
    assert rows["message"].tolist()[2:] == ["time: not an integer", "", "user_id: empty", "not sent"]
    assert rows["request"].tolist()[:4] == [1, 1, 2, 2] and rows["request"].isna().tolist()[4:] == [True, True]
    assert list(rows.index) == list(range(100, 106))
    rejected = r.rejected
    assert list(rejected.index) == [102, 103]
    assert rejected["_amplitude_reason"].tolist() == ["invalid_field", "device_silenced"]
    assert r.failed["_amplitude_message"].tolist() == ["not sent"]


def test_a_row_marked_again_without_a_reason_loses_the_old_one() -> None:
    r = _result(2)
    r.ledger.mark([0, 1], FAILED, "retries_exhausted: 503", "try again")
    r.ledger.mark([1], INGESTED, request=7)  # a resend of the failed row went through
    reason = r.rows["reason"]
    assert reason[100] == "retries_exhausted: 503" and pd.isna(reason[101])


def test_reasons_are_interned_so_a_failed_large_upload_stays_small() -> None:
    n = 1_000_000
    r = _result(n)
    r.ledger.mark(np.arange(10), INGESTED, request=1)
    r.ledger.fail_pending("interrupted", "not acknowledged before the interrupt; safe to resend")
    assert r.ledger._notes == [("interrupted", "not acknowledged before the interrupt; safe to resend")]
    assert r.ledger.note_ids().dtype == np.int32
    table = r.reasons()
    assert table.to_dict("records") == [
        {"status": "failed", "reason": "interrupted", "rows": n - 10, "examples": "110, 111, 112"}
    ]


def test_reasons_most_rows_first_then_by_status_and_reason() -> None:
    r = _result(7)
    led = r.ledger
    led.mark_each([(0, "b", "m1"), (1, "b", "m2"), (2, "a", "m")], REJECTED)  # two notes, one reason
    led.mark([3, 4], SKIPPED, "invalid: x", "m")
    led.mark([5], FAILED, "stopped", "m")
    table = r.reasons()
    assert table[["status", "reason", "rows"]].values.tolist() == [
        ["rejected", "b", 2], ["skipped", "invalid: x", 2], ["failed", "stopped", 1], ["rejected", "a", 1],
    ]
    assert table["examples"].tolist()[0] == "100, 101"
    assert _result(3).reasons().empty


def test_verify_uses_the_verifier_the_sending_layer_gave() -> None:
    import pytest

    from amp_notebook import ConfigurationError

    r = _result(3)
    r.ledger.mark([0, 2], INGESTED, request=1)
    with pytest.raises(ConfigurationError, match="this upload result has none"):
        r.verify()  # made without one (an identify result, say): nothing to look for
    seen: list[object] = []
    r.verifier = lambda frame, ingested, sent, secret, **options: seen.append((list(ingested), secret, options))
    r.verify("secret", export_endpoint="http://127.0.0.1:1/export")
    assert [int(i) for i in seen[0][0]] == [0, 2] and "secret" not in repr(seen[0][1])
    assert seen[0][2] == {"export_endpoint": "http://127.0.0.1:1/export"}
