"""(frame, failures) -> a pandas Styler of the failing rows, bad cells highlighted.

design.md, "facts learned the hard way": Styler ignores ``display.max_rows`` (style only
the failing rows, capped), does not escape HTML by default (``format(escape="html")``),
and its random uuid breaks notebook diffs (``set_uuid``). GitHub's viewer strips CSS, so
every highlighted cell also has its reason in the visible ``reasons`` column.
"""

from __future__ import annotations

import hashlib
import html
import inspect
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ._words import plural

if TYPE_CHECKING:  # pragma: no cover
    from pandas.io.formats.style import Styler

__all__ = ["ERROR_CSS", "STYLER_UUID", "WARNING_CSS", "style_failures"]

STYLER_UUID = "amp-validation"
ERROR_CSS = "background-color: #f8d7da; color: #842029;"
WARNING_CSS = "background-color: #fff3cd; color: #664d03;"
DISPLAY_CHARS = 200  # longer cell texts are cut (the failures table has the details)


def _is_missing_label(label: object) -> bool:
    return label is None or (isinstance(label, float) and label != label)


def _first_locs(columns: pd.Index, labels: Sequence[Hashable]) -> list[int]:
    locs = []
    for label in labels:
        loc = columns.get_loc(label)
        if isinstance(loc, slice):
            loc = loc.start
        elif not isinstance(loc, (int, np.integer)):
            loc = int(np.flatnonzero(loc)[0])
        locs.append(int(loc))
    return locs


def _tooltips_as_titles() -> bool:
    # pandas >= 2.3/3.0 can write tooltips as title attributes (no CSS needed to see them).
    from pandas.io.formats.style import Styler

    return "as_title_attribute" in inspect.signature(Styler.set_tooltips).parameters


def _uuid_for(view: pd.DataFrame, css: pd.DataFrame) -> str:
    """A uuid that is the same on every run (saved notebooks diff cleanly) but differs
    between tables: Styler's CSS ids are ``T_<uuid>_row..``, so two tables on one page
    sharing a uuid would paint each other's cells."""
    digest = hashlib.blake2b(digest_size=6)
    digest.update(repr(list(view.columns)).encode())
    digest.update(repr(view.index.tolist()).encode())
    digest.update(repr(css.to_numpy().tolist()).encode())  # at most max_rows rows
    return f"{STYLER_UUID}-{digest.hexdigest()}"


def style_failures(
    frame: pd.DataFrame,
    failures: pd.DataFrame,
    max_rows: int = 100,
    *,
    columns: Sequence[Hashable] | None = None,
) -> Styler:
    """The rows of ``frame`` that have problems in ``failures`` (index = row positions).

    Shows at most ``max_rows`` rows (a caption says how many more), the mapped
    ``columns`` (default: the columns with problems) and a ``reasons`` text column;
    failing cells get a red (error) or amber (warning) background and the message as a
    tooltip. Values are HTML-escaped; the uuid is fixed so re-rendering is identical.
    """
    positions = failures.index.to_numpy(dtype=np.int64)
    rows_all = np.unique(positions)
    shown = rows_all[: max(0, int(max_rows))]
    more = rows_all.size - shown.size

    # Columns: the mapped ones in frame order, plus any failing column not among them.
    failing_cols = [c for c in dict.fromkeys(failures["column"].tolist()) if not _is_missing_label(c)]
    wanted = list(columns) if columns is not None else []
    wanted += [c for c in failing_cols if c not in wanted]
    wanted = [c for c in wanted if c in frame.columns]
    locs = sorted(set(_first_locs(frame.columns, wanted)))
    labels = [frame.columns[i] for i in locs]

    view = frame.iloc[shown, locs].copy()
    for j in range(view.shape[1]):
        col = view.iloc[:, j]
        if ptypes.is_object_dtype(col.dtype) or ptypes.is_string_dtype(col.dtype):
            # Text for every non-numeric cell: pandas escapes only str cells (a list holding
            # "<script>" would go out raw), and a 50,000-character value would flood the page.
            view.isetitem(j, col.map(_display, na_action="ignore").astype(object))
    if not isinstance(view.index, pd.MultiIndex) and ptypes.is_object_dtype(view.index.dtype):
        view.index = view.index.map(_display)
    if isinstance(view.columns, pd.MultiIndex):
        view.columns = pd.Index([" / ".join(map(str, c)) for c in view.columns], dtype=object)
    display_cols = list(view.columns)
    if not view.index.is_unique:
        # Styler cannot place styles on duplicate labels: key rows by position, show the label.
        labels_shown = view.index
        view.index = pd.Index(shown, name="position")
        view.insert(0, _free_name(view.columns, "row"), [_display(v) for v in labels_shown])
    reasons_name = _free_name(view.columns, "reasons")

    # Per shown row: CSS and tooltips for each failing cell, reasons text for the row.
    row_of = {int(p): i for i, p in enumerate(shown)}
    col_of = {label: display_cols[j] for j, label in enumerate(labels)}
    css = pd.DataFrame("", index=view.index, columns=[*view.columns, reasons_name], dtype=object)
    tips = css.copy()
    reasons: list[list[str]] = [[] for _ in shown]
    worst: list[str] = ["" for _ in shown]
    sub = failures[np.isin(positions, shown)]
    for pos, column, key, severity, reason, message in zip(
        sub.index, sub["column"], sub["key"], sub["severity"], sub["reason"], sub["message"],
        strict=True,
    ):
        i = row_of[int(pos)]
        reasons[i].append(f"{key}: {reason} ({severity})")
        if severity == "error" or not worst[i]:
            worst[i] = str(severity)
        target = col_of.get(column) if not _is_missing_label(column) else None
        if target is None:
            continue
        j = css.columns.get_loc(target)
        if severity == "error" or css.iat[i, j] != ERROR_CSS:
            css.iat[i, j] = ERROR_CSS if severity == "error" else WARNING_CSS
        tip = f"{reason}: {message}"
        tips.iat[i, j] = tip if not tips.iat[i, j] else f"{tips.iat[i, j]} | {tip}"
    view[reasons_name] = ["; ".join(r) for r in reasons]
    last = css.columns.get_loc(reasons_name)
    for i, w in enumerate(worst):
        css.iat[i, last] = ERROR_CSS if w == "error" else WARNING_CSS if w else ""
    css.columns = view.columns
    tips.columns = view.columns

    styler: Styler = view.style
    styler.set_uuid(_uuid_for(view, css))
    styler.apply(lambda _: css, axis=None)
    # pandas escapes only str cells and never na_rep: without this a pd.NA cell goes out
    # as a raw "<NA>" tag, which browsers swallow (an empty cell where a value is missing).
    styler.format(escape="html", na_rep=html.escape("<NA>"))
    styler.format_index(escape="html", axis=0)
    styler.format_index(escape="html", axis=1)
    if len(view):
        # pandas writes tooltip text into the HTML unescaped, and messages name the user's
        # property keys: escape it ourselves, for the context it lands in.
        if _tooltips_as_titles():
            styler.set_tooltips(tips.map(html.escape), as_title_attribute=True)  # type: ignore[call-arg]
        else:  # pandas 2.2: CSS hover tooltips (the reasons column carries the text anyway)
            styler.set_tooltips(tips.map(_css_string))
    if more > 0:
        styler.set_caption(
            f"{rows_all.size:,} rows with problems: the first {shown.size:,} shown, "
            f"and {plural(more, 'more row')}"
        )
    elif rows_all.size == 0:
        styler.set_caption("no rows with problems")
    return styler


def _display(value: object, limit: int = DISPLAY_CHARS) -> str:
    """A cell as short text (escaped later by ``format(escape="html")``)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text):,} characters)"


def _css_string(text: str) -> str:
    """Text safe inside a CSS ``content: "..."`` string within a <style> element."""
    out = []
    for ch in text:
        if ch.isalnum() or ch in " .,:;_-()'=[]/!?+*#%@":
            out.append(ch)
        else:
            out.append(f"\\{ord(ch):x} ")  # CSS hex escape: also keeps "</style>" out
    return "".join(out)


def _free_name(columns: pd.Index, name: str) -> str:
    """``name``, or ``name`` with underscores around it until no column has it."""
    while name in columns:
        name = f"_{name}_"
    return name
