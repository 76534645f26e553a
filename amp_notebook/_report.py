"""ValidationReport: the result of checking a frame, as frames, counts and reprs.

Row-level problems are data (design.md principle 5): ``failures`` has one row per
problem, indexed by the row *position* in the frame (``position``), with the frame's
own index label in ``row`` so it reads like the user's frame.
"""

from __future__ import annotations

import html
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from ._unmapped import unmapped_columns, unmapped_text
from ._words import plural

if TYPE_CHECKING:  # pragma: no cover
    from pandas.io.formats.style import Styler

__all__ = ["FAILURE_COLUMNS", "ValidationReport"]

# failures columns, in order; the index (named "position") is the row position in the frame.
FAILURE_COLUMNS: tuple[str, ...] = ("row", "column", "key", "severity", "reason", "message", "value")


class ValidationReport:
    """What Amplitude's rules say about a frame; nothing is sent to make it.

    ``frame``: the frame checked (the caller's, not a copy, never changed).
    ``failures``: one row per problem: ``row`` (the frame's index label), ``column``
    (the frame column, None for a constant), ``key`` (the event key path, e.g.
    ``event_properties.plan``), ``severity`` ("error": the row is not sent; "warning":
    it is sent but something is lost or looks wrong), ``reason`` (a stable code, see
    ``Reason``), ``message`` (what is wrong and what to do), ``value`` (the offending
    value; long strings shortened). Its index, ``position``, is the row position.
    ``unmapped``: the frame's columns that feed no event key, so are not sent (named in
    the text and HTML with how to send them).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        failures: pd.DataFrame,
        *,
        columns: Sequence[Hashable] | None = None,
    ) -> None:
        self.frame = frame
        self.failures = failures
        self.columns: list[Hashable] | None = list(columns) if columns is not None else None
        self.unmapped: list[Hashable] = [] if columns is None else unmapped_columns(frame.columns, columns)
        positions = failures.index.to_numpy(dtype=np.int64)
        severity = failures["severity"].to_numpy(dtype=object)
        self.error_positions: np.ndarray = np.unique(positions[severity == "error"])
        self.warning_positions: np.ndarray = np.unique(positions[severity == "warning"])

    @property
    def ok(self) -> bool:
        """True when no row has an error (warnings allowed)."""
        return self.error_positions.size == 0

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    def _valid_mask(self) -> np.ndarray:
        mask = np.ones(len(self.frame), dtype=bool)
        mask[self.error_positions] = False
        return mask

    def valid_rows(self) -> pd.DataFrame:
        """The rows without errors (rows with only warnings included), as a slice of the frame."""
        return cast(pd.DataFrame, self.frame.iloc[np.flatnonzero(self._valid_mask())])

    def invalid_rows(self) -> pd.DataFrame:
        """The rows with at least one error, as a slice of the frame."""
        return cast(pd.DataFrame, self.frame.iloc[self.error_positions])

    def counts(self) -> pd.DataFrame:
        """Problems per reason and severity: ``problems`` (cells) and ``rows`` (distinct rows).

        Errors first, then the most frequent; ties by reason code (deterministic).
        """
        f = self.failures
        if f.empty:
            empty: pd.DataFrame = pd.DataFrame(
                {
                    "reason": pd.Series([], dtype=object),
                    "severity": pd.Series([], dtype=object),
                    "problems": pd.Series([], dtype=np.int64),
                    "rows": pd.Series([], dtype=np.int64),
                }
            )
            return empty
        table = pd.DataFrame(
            {
                "reason": f["reason"].to_numpy(dtype=object),
                "severity": f["severity"].to_numpy(dtype=object),
                "position": f.index.to_numpy(dtype=np.int64),
            }
        )
        grouped = table.groupby(["reason", "severity"], sort=False)["position"]
        out = pd.DataFrame(
            {"problems": grouped.size().astype(np.int64), "rows": grouped.nunique().astype(np.int64)}
        ).reset_index()
        out["_rank"] = (out["severity"] != "error").astype(int)
        out = out.sort_values(["_rank", "problems", "reason"], ascending=[True, False, True], kind="stable")
        return cast(pd.DataFrame, out.drop(columns="_rank").reset_index(drop=True))

    def style(self, max_rows: int = 100) -> Styler:
        """The failing rows (at most ``max_rows``), bad cells highlighted, reasons as text."""
        from ._styler import style_failures

        return style_failures(self.frame, self.failures, max_rows=max_rows, columns=self.columns)

    def summary(self) -> str:
        """One deterministic line, e.g. "1,000 rows, 12 with errors, 3 with warnings"."""
        return (
            f"{plural(self.n_rows, 'row')}, {self.error_positions.size:,} with errors, "
            f"{self.warning_positions.size:,} with warnings"
        )

    def unmapped_text(self, *, cli: bool = False) -> str:
        """Which columns are not sent and how to send them ("" when every column is used)."""
        return unmapped_text(self.unmapped, cli=cli)

    def __repr__(self) -> str:
        lines = [f"ValidationReport: {self.summary()}"]
        if self.unmapped:
            lines.append(self.unmapped_text())
        counts = self.counts()
        if not counts.empty:
            lines.append(counts.to_string(index=False))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = [f"<p><b>ValidationReport</b>: {html.escape(self.summary())}</p>"]
        if self.unmapped:
            parts.append(f"<p style='color:#a60'>{html.escape(self.unmapped_text())}</p>")
        counts = self.counts()
        if not counts.empty:
            parts.append(counts.to_html(index=False, escape=True))
            parts.append(self.style(max_rows=20).to_html())
        return "<div>" + "".join(parts) + "</div>"
