"""The merged result of a Dask upload, rendered like the pandas ``UploadResult``.

The partitions' :class:`PartResult` s are small (counts and the rows not ingested,
without their values), so the driver holds them all. What is per row stays on the
cluster until asked for, as lazy Dask DataFrames rebuilt from the input frame:
``rows`` (every row's status) and ``rejected`` / ``failed`` / ``skipped`` (the
original rows with ``_amplitude_reason`` / ``_amplitude_message``) and ``to_resend()`` (the rows
alone: ``result.to_resend().amplitude.upload(...)``). Recomputing them reads the input again
(e.g. the parquet files), and needs it unchanged since the upload.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._preflight import summary_lines as preflight_summary
from .._result import NOT_INGESTED, OUTCOMES, reasons_table, resend_statuses
from .._summary import render_result_html, summary_lines
from .rates import RateSplit
from .route import ROW, user_columns
from .validate import merged_counts
from .worker import PROBLEM_COLUMNS, PartResult

if TYPE_CHECKING:  # pragma: no cover
    import dask.dataframe as dd

__all__ = ["DaskUploadResult"]

def _statuses(part: pd.DataFrame, problems: pd.DataFrame, default: str) -> pd.DataFrame:
    """Every row's status: ``default`` unless it is among the problems (by ``_amp_row``)."""
    at = pd.Index(problems[ROW]).get_indexer(part[ROW])
    hit = at >= 0
    status = np.full(len(part), default, dtype=object)
    reason = np.full(len(part), None, dtype=object)
    message = np.full(len(part), None, dtype=object)
    status[hit] = problems["status"].to_numpy(dtype=object)[at[hit]]
    reason[hit] = problems["reason"].to_numpy(dtype=object)[at[hit]]
    message[hit] = problems["message"].to_numpy(dtype=object)[at[hit]]
    table: pd.DataFrame = pd.DataFrame({"status": status, "reason": reason, "message": message}, index=part.index)
    return table


def _with_reasons(part: pd.DataFrame, problems: pd.DataFrame, reasons: bool = True) -> pd.DataFrame:
    """The rows of ``part`` among ``problems``: the user's rows, plus the reasons if asked."""
    at = pd.Index(problems[ROW]).get_indexer(part[ROW])
    hit = at >= 0
    rows = user_columns(part.loc[hit])
    if reasons:
        rows["_amplitude_reason"] = problems["reason"].to_numpy(dtype=object)[at[hit]]
        rows["_amplitude_message"] = problems["message"].to_numpy(dtype=object)[at[hit]]
    return rows


@dataclass
class DaskUploadResult:
    """What happened to every row of ``ddf.amplitude.upload()``, merged across partitions.

    Same counts and names as ``UploadResult`` (``ingested_count``, ``failed``, ...);
    ``problems`` (pandas) holds every row not ingested: index label, ``_amp_row``,
    status, reason, message; ``partitions`` has a row per partition (rows, worker,
    seconds, 429s). Renders as HTML in a notebook and as text elsewhere. Never
    holds the API key.
    """

    parts: list[PartResult] = field(repr=False)
    routed: Any = field(repr=False)  # dd.DataFrame: the input with _amp_row, lazily
    endpoint: str = ""
    api: str = "http"
    elapsed_s: float = 0.0
    dry_run: bool = False
    interrupted: bool = False
    split: RateSplit | None = None
    shuffled: bool = True

    def __post_init__(self) -> None:
        self.parts = sorted(self.parts, key=lambda p: p.number)
        frames = [p.problems for p in self.parts if len(p.problems)]
        problems = pd.concat(frames) if frames else pd.DataFrame(columns=PROBLEM_COLUMNS)
        self.problems: pd.DataFrame = problems.sort_values(ROW, kind="stable") if len(problems) else problems

    # -- counts -------------------------------------------------------------
    def _sum(self, status: str) -> int:
        """Rows that ended in ``status``, over the partitions (each counts by status)."""
        return sum(p.counts.get(status, 0) for p in self.parts)

    @property
    def total(self) -> int:
        return sum(p.rows for p in self.parts)

    @property
    def ingested_count(self) -> int:
        return self._sum("ingested")

    @property
    def rejected_count(self) -> int:
        return self._sum("rejected")

    @property
    def failed_count(self) -> int:
        return self._sum("failed")

    @property
    def skipped_count(self) -> int:
        return self._sum("skipped")

    @property
    def requests(self) -> int:
        return sum(p.requests for p in self.parts)

    @property
    def retries(self) -> int:
        return sum(p.retries for p in self.parts)

    @property
    def throttled(self) -> int:
        return sum(p.throttled for p in self.parts)

    @property
    def batches(self) -> int:
        return sum(p.batches for p in self.parts)

    @property
    def duplicate_count(self) -> int:
        return sum(p.duplicates for p in self.parts)

    @property
    def server_answers(self) -> Counter[str]:
        answers: Counter[str] = Counter()
        for p in self.parts:
            answers.update(p.server_answers)
        return answers

    @property
    def events_per_second(self) -> float:
        return self.ingested_count / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def errors(self) -> dict[int, str]:
        """Partitions stopped by an error (a refused key, a bug), by partition number."""
        return {p.number: p.error for p in self.parts if p.error}

    @property
    def ok(self) -> bool:
        if self.dry_run:
            return self.skipped_count == 0
        return self.ingested_count == self.total

    def counts(self) -> dict[str, int]:
        """rows, ingested, rejected, failed, skipped: as ``UploadResult.counts()``."""
        return {"rows": self.total, **{status: self._sum(status) for status in OUTCOMES}}

    def pacing_lines(self) -> list[str]:
        """The slowest partition's pacing lower bound (the job cannot end sooner) and any tightening."""
        estimates = [p.pacing for p in self.parts if p.pacing is not None]
        lines = max(estimates, key=lambda e: e.bound_s).lines() if estimates else []
        return lines + list(dict.fromkeys(p.pacing_note for p in self.parts if p.pacing_note))

    def preflight_lines(self) -> list[str]:
        """The backfill pre-flight's warnings, summed over the partitions (each id is in one)."""
        counts = [p.preflight for p in self.parts]
        return preflight_summary(tuple(sum(c[i] for c in counts) for i in range(3)))  # type: ignore[arg-type]

    # -- tables -------------------------------------------------------------
    @property
    def partitions(self) -> pd.DataFrame:
        """One row per partition: where it ran, its counts, requests, 429s and time."""
        records = [
            {"partition": p.number, "worker": p.worker, "rows": p.rows, **p.counts,
             "requests": p.requests, "429s": p.throttled, "seconds": round(p.elapsed_s, 3),
             "events/s": round(p.counts.get("ingested", 0) / p.elapsed_s) if p.elapsed_s > 0 else 0,
             "error": p.error}
            for p in self.parts
        ]
        table: pd.DataFrame = pd.DataFrame(records).set_index("partition") if records else pd.DataFrame()
        return table

    def reasons(self) -> pd.DataFrame:
        """Counts of reasons for rows that were not ingested, with example rows (the first three)."""
        p = self.problems
        p = p[p["status"].isin(NOT_INGESTED).to_numpy()]
        return reasons_table(p["status"].to_numpy(dtype=object), p["reason"].to_numpy(dtype=object), p.index)

    def validation_counts(self) -> pd.DataFrame:
        """Problems per reason and severity found by the partitions' validation (summed)."""
        return merged_counts([p.validation for p in self.parts if p.validation is not None])

    # -- per row, lazily ------------------------------------------------------
    def _problems_of(self, statuses: tuple[str, ...]) -> Any:
        import dask

        chosen = self.problems[self.problems["status"].isin(statuses).to_numpy()]
        return dask.delayed(chosen.reset_index(drop=True), pure=True)

    @property
    def rows(self) -> dd.DataFrame:
        """A Dask DataFrame: every input row's status, reason and message (lazy)."""
        default = "would send" if self.dry_run else "ingested"
        meta = pd.DataFrame({"status": pd.Series(dtype=object), "reason": pd.Series(dtype=object),
                             "message": pd.Series(dtype=object)}, index=self.routed._meta.index)
        problems = self._problems_of((*NOT_INGESTED, "pending"))
        rows: dd.DataFrame = self.routed.map_partitions(_statuses, problems, default, meta=meta)
        return rows

    def _frame_of(self, statuses: tuple[str, ...], reasons: bool = True) -> dd.DataFrame:
        meta = _with_reasons(self.routed._meta, self.problems.iloc[:0], reasons)
        frame: dd.DataFrame = self.routed.map_partitions(_with_reasons, self._problems_of(statuses), reasons,
                                                         meta=meta)
        return frame

    def to_resend(self, status: str | Iterable[str] = "failed") -> dd.DataFrame:
        """The rows to send again (lazy), as the input's own rows and columns, picked by
        ``_amp_row`` (so repeated index labels are no trouble): "failed" (the default:
        safe to resend as they are), "rejected" / "skipped" (fix them first), or several.
        ``result.to_resend().amplitude.upload(...)``."""
        return self._frame_of(resend_statuses(status), reasons=False)

    @property
    def rejected(self) -> dd.DataFrame:
        """Rows Amplitude refused (a lazy Dask DataFrame), with the reasons."""
        return self._frame_of(("rejected",))

    @property
    def failed(self) -> dd.DataFrame:
        """Rows not delivered (lazy), with the reasons; resend with ``result.to_resend()``."""
        return self._frame_of(("failed",))

    @property
    def skipped(self) -> dd.DataFrame:
        """Rows not sent because they break Amplitude's rules locally (lazy)."""
        return self._frame_of(("skipped",))

    # -- reprs ----------------------------------------------------------------
    def _extra(self) -> list[str]:
        workers = len({p.worker for p in self.parts if p.worker})
        how = "shuffled by device" if self.shuffled else "partitioned by the caller"
        lines = [f"{len(self.parts):,} partitions ({how}) on {workers:,} worker{'' if workers == 1 else 's'}"]
        if self.split is not None:
            lines.append(self.split.describe())
        for number, error in sorted(self.errors.items())[:5]:
            lines.append(f"partition {number} stopped: {error}")
        return lines

    def summary_lines(self, *, timings: bool = True) -> list[str]:
        return summary_lines(self, timings=timings, head="DaskUploadResult", extra=self._extra())

    def __repr__(self) -> str:
        # Deterministic (no timings, no worker addresses) so saved notebooks compare.
        return "\n".join(self.summary_lines(timings=False))

    def _repr_html_(self) -> str:
        return render_result_html(self, title="Amplitude upload on Dask", extra=self._extra())
