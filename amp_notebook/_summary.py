"""Pure HTML rendering of an UploadResult: a compact dashboard.

Deterministic given the result (timings are shown, but the text twin used by
nbval, ``repr(result)``, leaves them out). Everything user-provided is escaped.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from ._words import plural

if TYPE_CHECKING:  # pragma: no cover
    from ._result import UploadResult

_COLOURS = {
    "ingested": "#1a7f37",
    "rejected": "#cf222e",
    "failed": "#bc4c00",
    "skipped": "#6e7781",
}


def _tile(label: str, value: int, colour: str) -> str:
    return (
        f'<div style="display:inline-block;min-width:7em;margin:0 .5em .4em 0;padding:.35em .6em;'
        f'border-left:4px solid {colour};background:rgba(127,127,127,.08)">'
        f'<div style="font-size:1.35em;font-weight:600">{value:,}</div>'
        f'<div style="font-size:.85em;opacity:.8">{escape(label)}</div></div>'
    )


def render_result_html(result: UploadResult) -> str:
    counts = result.counts()
    title = "Amplitude upload"
    if result.dry_run:
        title += " (dry run)"
    if result.interrupted:
        title += " (interrupted)"
    parts = [
        '<div class="amp-notebook-result" style="font-family:system-ui,sans-serif;line-height:1.3">',
        f'<div style="font-weight:600;margin-bottom:.3em">{escape(title)}: '
        f'{plural(counts["rows"], "row")} to {escape(result.endpoint)}</div>',
    ]
    if result.dry_run:
        parts.append(_tile("would send", counts["rows"] - counts["skipped"], _COLOURS["ingested"]))
        parts.append(_tile("requests", result.batches, "#0969da"))
        parts.append(_tile("skipped", counts["skipped"], _COLOURS["skipped"]))
    else:
        for name in ("ingested", "rejected", "failed", "skipped"):
            parts.append(_tile(name, counts[name], _COLOURS[name]))
        parts.append(
            f'<div style="font-size:.9em;opacity:.85">requests {result.requests:,} · retries '
            f"{result.retries:,} · 429s {result.throttled:,} · {result.elapsed_s:.2f} s · "
            f"{result.events_per_second:,.0f} events/s</div>"
        )
    for line in result.pacing_lines():
        parts.append(f'<div style="font-size:.9em;color:#0969da">{escape(line)}</div>')
    for line in filter(None, [result.duplicates_line(), *result.preflight_lines()]):
        parts.append(f'<div style="font-size:.9em;color:#9a6700">{escape(line)}</div>')
    reasons = result.reasons()
    if len(reasons):
        rows = "".join(
            f"<tr><td>{escape(str(r.status))}</td><td><code>{escape(str(r.reason))}</code></td>"
            f'<td style="text-align:right">{r.rows:,}</td><td>{escape(str(r.examples))}</td></tr>'
            for r in reasons.head(20).itertuples(index=False)
        )
        parts.append(
            '<table style="margin-top:.5em;font-size:.9em"><thead><tr><th>status</th><th>reason</th>'
            f"<th>rows</th><th>example rows</th></tr></thead><tbody>{rows}</tbody></table>"
        )
        if len(reasons) > 20:
            parts.append(f"<div>and {len(reasons) - 20} more reasons</div>")
        parts.append(
            '<div style="font-size:.85em;opacity:.8;margin-top:.3em">'
            "<code>result.rejected</code>, <code>result.failed</code> and <code>result.skipped</code> "
            "hold these rows with their reasons; resend with "
            "<code>result.to_resend().amplitude.upload(...)</code></div>"
        )
    parts.append("</div>")
    return "".join(parts)
