"""VerifyReport: which ingested rows an export shows, which are missing and why.

Pure: built from the matcher's answer; renders as text (deterministic, for saved
notebooks) and as HTML, like the upload's result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from typing import Any, cast

import numpy as np
import pandas as pd

from ._export_hours import HourRange
from ._verify import Expected, Matcher, hash_strings
from ._words import plural

NOT_EXPORTED = "not_exported"
NOT_EXPORTED_YET = "not_exported_yet"
OTHER_IDS = "other_ids"

EXTRA_COLUMNS = ("row", "insert_id", "device_id", "user_id", "event_type", "event_time", "server_upload_time")


@dataclass(frozen=True)
class ExportSummary:
    """What was read: from where, which hours, how much, and whether it can be complete yet."""

    source: str
    hours: HourRange
    requests: int
    files: int
    events: int
    complete_from: float | None = None  # set when asked before the last hour was exportable

    @property
    def early(self) -> bool:
        return self.complete_from is not None

    def complete_from_text(self) -> str:
        if self.complete_from is None:
            return ""
        return datetime.fromtimestamp(self.complete_from, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class VerifyReport:
    """Did every ingested row of an upload land? (``result.verify()``)

    ``landed_count`` / ``missing_count`` count the ingested rows (the others are in
    the upload's result); ``missing`` holds those rows, by the frame's own index,
    with ``_amplitude_reason`` / ``_amplitude_message``; ``extra`` the exported
    events that carry one of the upload's insert_ids with other ids;
    ``to_resend()`` the missing rows as they were uploaded.
    """

    frame: pd.DataFrame = field(repr=False)
    positions: np.ndarray = field(repr=False)  # the ingested rows, by position
    landed_mask: np.ndarray = field(repr=False)
    reason_codes: np.ndarray = field(repr=False)  # per missing row: reason code
    messages: np.ndarray = field(repr=False)  # per missing row
    extra: pd.DataFrame = field(repr=False)
    extra_count: int
    export: ExportSummary
    not_ingested: int = 0

    @property
    def verified_count(self) -> int:
        return len(self.positions)

    @property
    def landed_count(self) -> int:
        return int(np.count_nonzero(self.landed_mask))

    @property
    def missing_count(self) -> int:
        return self.verified_count - self.landed_count

    @property
    def ok(self) -> bool:
        """True when every ingested row is in the export."""
        return self.missing_count == 0

    @property
    def missing_positions(self) -> np.ndarray:
        out: np.ndarray = self.positions[~self.landed_mask]
        return out

    @property
    def missing(self) -> pd.DataFrame:
        """The missing rows (the frame's own index and columns) with their reasons."""
        part: pd.DataFrame = self.frame.iloc[self.missing_positions].copy()
        part["_amplitude_reason"] = self.reason_codes.tolist()
        part["_amplitude_message"] = self.messages.tolist()
        return part

    def to_resend(self) -> pd.DataFrame:
        """The missing rows as they were uploaded (by position: repeated index labels are safe)."""
        return cast(pd.DataFrame, self.frame.iloc[self.missing_positions].copy())

    @property
    def rows(self) -> pd.DataFrame:
        """One row per ingested row: ``landed`` (bool), ``reason`` (None when landed)."""
        reasons = np.full(len(self.positions), None, dtype=object)
        reasons[~self.landed_mask] = self.reason_codes
        rows: pd.DataFrame = pd.DataFrame(
            {"landed": self.landed_mask, "reason": reasons}, index=self.frame.index.take(self.positions)
        )
        return rows

    def reasons(self) -> pd.DataFrame:
        """Missing rows per reason, with example rows (the first three)."""
        records = []
        index = self.frame.index
        missing = self.missing_positions
        for code in dict.fromkeys(self.reason_codes.tolist()):
            where = missing[self.reason_codes == code]
            records.append({"reason": code, "rows": len(where), "examples": ", ".join(map(str, index[where[:3]]))})
        records.sort(key=lambda r: -cast(int, r["rows"]))
        table: pd.DataFrame = pd.DataFrame(records, columns=["reason", "rows", "examples"])
        return table

    # -- reprs ------------------------------------------------------------------------
    def summary_lines(self) -> list[str]:
        e = self.export
        lines = [
            f"VerifyReport: {self.landed_count:,} of {self.verified_count:,} ingested rows landed, "
            f"{self.missing_count:,} missing",
            f"  export: {e.hours} from {e.source}: {plural(e.events, 'event')} in {plural(e.files, 'file')}, "
            f"{plural(e.requests, 'request')}",
        ]
        if e.early and self.missing_count:
            lines.append(f"  asked early: the export is complete from about {e.complete_from_text()}")
        if self.not_ingested:
            were = "was" if self.not_ingested == 1 else "were"
            lines.append(f"  {plural(self.not_ingested, 'row')} of the upload {were} not ingested "
                         "(not verified: see the result)")
        if self.extra_count:
            carry = "carries" if self.extra_count == 1 else "carry"
            lines.append(f"  extra: {plural(self.extra_count, 'exported event')} {carry} the upload's insert_ids "
                         "with other ids")
        reasons = self.reasons()
        if len(reasons):
            lines.append("  missing:")
            for r in reasons.itertuples(index=False):
                lines.append(f"    {r.reason}: {r.rows:,} ({'row' if r.rows == 1 else 'rows'} {r.examples})")
            lines.append("  resend them: report.to_resend().amplitude.upload(...)")
        return lines

    def __repr__(self) -> str:
        return "\n".join(self.summary_lines())

    def _repr_html_(self) -> str:
        return render_verify_html(self)


def _count(label: str, value: int, colour: str) -> str:
    return (f'<span style="display:inline-block;margin:0 1.2em .3em 0"><b style="font-size:1.3em;color:{colour}">'
            f'{value:,}</b> {escape(label)}</span>')


def render_verify_html(report: VerifyReport) -> str:
    e = report.export
    parts = [
        '<div class="amp-notebook-verify" style="font-family:system-ui,sans-serif;line-height:1.3">',
        f'<div style="font-weight:600;margin-bottom:.3em">Did it land? {report.landed_count:,} of '
        f"{report.verified_count:,} ingested rows are in the export</div>",
        "<div>",
        _count("landed", report.landed_count, "#1a7f37"),
        _count("missing", report.missing_count, "#cf222e" if report.missing_count else "#6e7781"),
        _count("extra", report.extra_count, "#bc4c00" if report.extra_count else "#6e7781"),
        "</div>",
        f'<div style="font-size:.9em;opacity:.85">{escape(str(e.hours))} · {escape(e.source)} · '
        f"{plural(e.events, 'event')} in {plural(e.files, 'file')} · {plural(e.requests, 'request')}</div>",
    ]
    if e.early and report.missing_count:
        parts.append(f'<div style="font-size:.9em;color:#9a6700">Asked early: the export is complete from about '
                     f"{escape(e.complete_from_text())}</div>")
    reasons = report.reasons()
    if len(reasons):
        rows = "".join(
            f"<tr><td><code>{escape(str(r.reason))}</code></td><td style='text-align:right'>{r.rows:,}</td>"
            f"<td>{escape(str(r.examples))}</td></tr>"
            for r in reasons.itertuples(index=False)
        )
        parts.append('<table style="margin-top:.5em;font-size:.9em"><thead><tr><th>reason</th><th>rows</th>'
                     f"<th>example rows</th></tr></thead><tbody>{rows}</tbody></table>")
        parts.append('<div style="font-size:.85em;opacity:.8;margin-top:.3em"><code>report.missing</code> holds '
                     "them with reasons; resend with <code>report.to_resend().amplitude.upload(...)</code></div>")
    parts.append("</div>")
    return "".join(parts)


def _missing_reasons(
    expected: Expected, missing: np.ndarray, strays: Mapping[int, Mapping[str, Any]], export: ExportSummary
) -> tuple[np.ndarray, np.ndarray]:
    codes = np.empty(missing.size, dtype=object)
    messages = np.empty(missing.size, dtype=object)
    if export.early:
        code, text = NOT_EXPORTED_YET, (f"not in the export of {export.hours} yet; it is complete from about "
                                        f"{export.complete_from_text()}: verify again then")
    else:
        code, text = NOT_EXPORTED, "no event with this insert_id (and the row's device/user) in the export"
    codes[:] = code
    messages[:] = text
    iids = expected.insert_ids[missing]
    for i in np.flatnonzero(np.isin(iids, np.fromiter(strays, dtype=np.uint64, count=len(strays)))):
        event = strays[int(iids[i])]
        codes[i] = OTHER_IDS
        messages[i] = (f"the export has this insert_id with device_id={event.get('device_id')!r}, "
                       f"user_id={event.get('user_id')!r} (see .extra)")
    return codes, messages


def _extra_frame(frame: pd.DataFrame, expected: Expected, events: list[dict[str, Any]]) -> pd.DataFrame:
    if not events:
        empty: pd.DataFrame = pd.DataFrame({c: pd.Series([], dtype=object) for c in EXTRA_COLUMNS})
        return empty
    hashes = hash_strings([e.get("$insert_id") for e in events])
    order = np.argsort(expected.insert_ids, kind="stable")
    sorted_iids = expected.insert_ids[order]
    at = np.searchsorted(sorted_iids, hashes)  # every extra carries one of the upload's insert_ids
    rows = frame.index.take(expected.positions[order[np.minimum(at, len(order) - 1)]])
    out: pd.DataFrame = pd.DataFrame({
        "row": rows.to_numpy(dtype=object) if not isinstance(rows, pd.MultiIndex) else list(rows),
        "insert_id": [e.get("$insert_id") for e in events],
        "device_id": [e.get("device_id") for e in events],
        "user_id": [e.get("user_id") for e in events],
        "event_type": [e.get("event_type") for e in events],
        "event_time": [e.get("event_time") for e in events],
        "server_upload_time": [e.get("server_upload_time") for e in events],
    })
    return out


def build_report(
    frame: pd.DataFrame, expected: Expected, matcher: Matcher, export: ExportSummary, not_ingested: int = 0
) -> VerifyReport:
    landed = matcher.landed()
    missing = np.flatnonzero(~landed)
    strays = matcher.strays_by_insert_id()
    codes, messages = _missing_reasons(expected, missing, strays, export)
    return VerifyReport(
        frame=frame,
        positions=expected.positions,
        landed_mask=landed,
        reason_codes=codes,
        messages=messages,
        extra=_extra_frame(frame, expected, matcher.extra_events),
        extra_count=matcher.extra_count,
        export=export,
        not_ingested=not_ingested,
    )


__all__ = ["NOT_EXPORTED", "NOT_EXPORTED_YET", "OTHER_IDS", "ExportSummary", "VerifyReport", "build_report"]
