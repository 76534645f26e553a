"""Rows that did not make it, with reasons, and the failures table as plain text.

Pure (pandas, numpy): what ``amp-notebook validate`` / ``upload`` write to the
``--out`` file and print. The reason columns are named so that they cannot clash
with the user's columns and match no event key, so the file can be fixed and sent
again as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._result import NOT_INGESTED

if TYPE_CHECKING:  # pragma: no cover
    from ._report import ValidationReport
    from ._result import UploadResult

__all__ = [
    "MESSAGE_COLUMN",
    "REASON_COLUMN",
    "ROW_COLUMN",
    "STATUS_COLUMN",
    "failures_text",
    "invalid_rows_frame",
    "not_ingested_frame",
]

ROW_COLUMN, STATUS_COLUMN, REASON_COLUMN, MESSAGE_COLUMN = (
    "_amplitude_row",
    "_amplitude_status",
    "_amplitude_reason",
    "_amplitude_message",
)
_TABLE_ROWS = 50


def _error_details(report: ValidationReport | None) -> dict[int, tuple[str, str]]:
    """position -> (reason codes, messages) of the row's errors, all of them."""
    if report is None:
        return {}
    f = report.failures
    errors = f[f["severity"].to_numpy(dtype=object) == "error"]
    out: dict[int, tuple[str, str]] = {}
    for position, group in errors.groupby(level=0, sort=True):
        reasons = "; ".join(dict.fromkeys(str(r) for r in group["reason"]))
        messages = " | ".join(str(m) for m in group["message"])
        out[int(position)] = (reasons, messages)  # type: ignore[call-overload]
    return out


def _with_reasons(
    frame: pd.DataFrame,
    positions: np.ndarray,
    status: Sequence[str],
    reasons: Sequence[str],
    messages: Sequence[str],
) -> pd.DataFrame:
    """The rows at ``positions``, the reason columns first, then the user's columns."""
    part = frame.iloc[positions]
    head = pd.DataFrame(
        {
            ROW_COLUMN: part.index.to_numpy(),
            STATUS_COLUMN: list(status),
            REASON_COLUMN: list(reasons),
            MESSAGE_COLUMN: list(messages),
        }
    )
    out: pd.DataFrame = pd.concat([head, part.reset_index(drop=True)], axis=1)
    return out


def invalid_rows_frame(report: ValidationReport, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows with errors, with every reason and message of each.

    ``frame``: the rows to show, when not the frame validated (the CLI shows the input
    as read, before ``--time-format`` rewrote its times); same rows, same order.
    """
    details = _error_details(report)
    positions = np.asarray(sorted(details), dtype=np.int64)
    return _with_reasons(
        report.frame if frame is None else frame,
        positions,
        ["invalid"] * len(positions),
        [details[p][0] for p in positions.tolist()],
        [details[p][1] for p in positions.tolist()],
    )


def not_ingested_frame(result: UploadResult, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows rejected, failed or skipped, each with its reason and message.

    Skipped rows get all their validation errors (the ledger keeps only one).
    ``frame``: the rows to show, as for :func:`invalid_rows_frame`.
    """
    rows = result.rows
    status = rows["status"].to_numpy(dtype=object)
    positions = np.flatnonzero(np.isin(status, NOT_INGESTED))
    details = _error_details(result.validation)
    reason_col = rows["reason"].to_numpy(dtype=object)
    message_col = rows["message"].to_numpy(dtype=object)
    reasons, messages = [], []
    for p in positions.tolist():
        if status[p] == "skipped" and p in details:
            reason, message = details[p]
        else:
            reason, message = reason_col[p] or "", message_col[p] or ""
        reasons.append(str(reason))
        messages.append(str(message))
    shown = result.frame if frame is None else frame
    return _with_reasons(shown, positions, [str(s) for s in status[positions]], reasons, messages)


def _cell(value: object, width: int | None = None) -> str:
    # Missing values (None, NaN, pd.NA, NaT) show as an empty cell.
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    text = " ".join(str(value).split())
    if width is not None and len(text) > width:
        text = text[: width - 3] + "..."
    return text


def failures_text(failures: pd.DataFrame, max_rows: int = _TABLE_ROWS) -> str:
    """The failures table as plain, left-aligned text: one line per problem, message last.

    The message is never shortened: it says what to do. Long values are.
    """
    if failures.empty:
        return "(no problems)"
    headers = ["row", "key", "severity", "reason", "value", "message"]
    shown = failures.head(max_rows)
    body = [
        [
            _cell(row),
            _cell(key),
            _cell(severity),
            _cell(reason),
            _cell(value, 32),
            _cell(message),
        ]
        for row, key, severity, reason, value, message in zip(
            shown["row"], shown["key"], shown["severity"], shown["reason"], shown["value"],
            shown["message"], strict=True,
        )
    ]
    widths = [max(len(line[i]) for line in [headers, *body]) for i in range(len(headers) - 1)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True)), line[-1]])
        for line in [headers, *body]
    ]
    if len(failures) > max_rows:
        lines.append(f"... and {len(failures) - max_rows:,} more")
    return "\n".join(line.rstrip() for line in lines)
