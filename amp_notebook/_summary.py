"""Pure rendering of an upload's result: a plain-text summary and a compact HTML dashboard.

Anything shaped like a result (:class:`ResultView`) renders the same way: the
pandas ``UploadResult`` and the merged result of a Dask upload
(``amp_notebook.dask``). Deterministic given the result: the HTML shows timings,
the text twin used by nbval (``repr(result)``) can leave them out. Everything
user-provided is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Protocol

from ._words import plural

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

_COLOURS = {
    "ingested": "#1a7f37",
    "rejected": "#cf222e",
    "failed": "#bc4c00",
    "skipped": "#6e7781",
}

class ResultView(Protocol):
    """What the renderers read of a result."""

    @property
    def endpoint(self) -> str: ...
    @property
    def dry_run(self) -> bool: ...
    @property
    def interrupted(self) -> bool: ...
    @property
    def batches(self) -> int: ...
    @property
    def elapsed_s(self) -> float: ...
    @property
    def requests(self) -> int: ...
    @property
    def retries(self) -> int: ...
    @property
    def throttled(self) -> int: ...
    @property
    def events_per_second(self) -> float: ...
    @property
    def duplicate_count(self) -> int: ...
    def counts(self) -> dict[str, int]: ...
    def reasons(self) -> pd.DataFrame: ...
    def pacing_lines(self) -> list[str]: ...
    def preflight_lines(self) -> list[str]: ...


def duplicates_line(result: ResultView) -> str | None:
    n = result.duplicate_count
    if not n:
        return None
    verb = "would repeat" if result.dry_run else "repeats" if n == 1 else "repeat"
    return (f"{n:,} of the rows sent {verb} an earlier row's insert_id: Amplitude keeps one of each "
            "(duplicate_event in .validation)")


def summary_lines(
    result: ResultView, *, timings: bool = True, head: str = "UploadResult", extra: Sequence[str] = (),
    unit: str = "events",
) -> list[str]:
    """The plain-text summary; ``extra`` lines go after the counts; ``unit``: what a row is sent as."""
    c = result.counts()
    if result.dry_run:
        head += " (dry run)"
    if result.interrupted:
        head += " (interrupted)"
    lines = [f"{head}: {plural(c['rows'], 'row')} to {result.endpoint}"]
    if result.dry_run:
        lines.append(
            f"  would send {plural(c['rows'] - c['skipped'], unit.removesuffix('s'))} in "
            f"{plural(result.batches, 'request')}; "
            f"skipped {c['skipped']:,}"
        )
    else:
        lines.append(
            f"  ingested {c['ingested']:,} | rejected {c['rejected']:,} | "
            f"failed {c['failed']:,} | skipped {c['skipped']:,}"
        )
        lines.append(
            f"  requests {result.requests:,} | retries {result.retries:,} | 429s {result.throttled:,}"
        )
        if timings:
            lines.append(
                f"  {result.elapsed_s:.2f} s, {result.events_per_second:,.0f} {unit}/s"
            )
    lines.extend(f"  {line}" for line in extra)
    lines.extend(f"  {line}" for line in result.pacing_lines())
    duplicates = duplicates_line(result)
    if duplicates:
        lines.append(f"  {duplicates}")
    lines.extend(f"  {line}" for line in result.preflight_lines())
    reasons = result.reasons()
    if len(reasons):
        lines.append("  reasons:")
        for r in reasons.itertuples(index=False):
            lines.append(f"    {r.status:<8} {r.reason}: {r.rows:,} ({'row' if r.rows == 1 else 'rows'} {r.examples})")
    return lines


def _tile(label: str, value: int, colour: str) -> str:
    return (
        f'<div style="display:inline-block;min-width:7em;margin:0 .5em .4em 0;padding:.35em .6em;'
        f'border-left:4px solid {colour};background:rgba(127,127,127,.08)">'
        f'<div style="font-size:1.35em;font-weight:600">{value:,}</div>'
        f'<div style="font-size:.85em;opacity:.8">{escape(label)}</div></div>'
    )


def render_result_html(
    result: ResultView, *, title: str = "Amplitude upload", extra: Sequence[str] = (), unit: str = "events",
    method: str = "upload",
) -> str:
    """The dashboard; ``extra`` lines (text, escaped here) go under the counts; ``unit`` is what a
    row is sent as, ``method`` the accessor method that resends rows."""
    counts = result.counts()
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
            f"{result.events_per_second:,.0f} {escape(unit)}/s</div>"
        )
    for line in extra:
        parts.append(f'<div style="font-size:.9em;opacity:.85">{escape(line)}</div>')
    for line in result.pacing_lines():
        parts.append(f'<div style="font-size:.9em;color:#0969da">{escape(line)}</div>')
    for line in filter(None, [duplicates_line(result), *result.preflight_lines()]):
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
            f"<code>result.to_resend().amplitude.{escape(method)}(...)</code></div>"
        )
    parts.append("</div>")
    return "".join(parts)
