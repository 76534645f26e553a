"""What happened to every row of an upload: the ledger and the UploadResult.

Pure: no IO, no clock. The upload loop writes into a :class:`RowLedger`; an
:class:`UploadResult` is the finished, read-only view of it. Every row ends in
exactly one of ingested / rejected / failed / skipped, with a reason for the
last three (the developers' guide: "nothing is lost").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from ._report import ValidationReport

PENDING, INGESTED, REJECTED, FAILED, SKIPPED = 0, 1, 2, 3, 4
STATUS_NAMES = ("pending", "ingested", "rejected", "failed", "skipped")


class RowLedger:
    """Per-row status, reason, message and request number, by row position."""

    def __init__(self, n_rows: int) -> None:
        self.status = np.zeros(n_rows, dtype=np.int8)
        self.request = np.full(n_rows, -1, dtype=np.int32)  # request numbers; 4 bytes a row
        # Reasons are few and repeated: store them sparsely, by position.
        self.reason: dict[int, str] = {}
        self.message: dict[int, str] = {}
        self.server_answers: Counter[str] = Counter()
        self.requests = 0
        self.retries = 0
        self.throttled = 0  # 429 answers
        self.pauses = 0     # partitions paused
        self.splits = 0     # 413 halvings

    def __len__(self) -> int:
        return len(self.status)

    def mark(
        self,
        positions: Iterable[int] | np.ndarray,
        status: int,
        reason: str | None = None,
        message: str | None = None,
        request: int | None = None,
    ) -> None:
        idx = np.asarray(positions if isinstance(positions, np.ndarray) else list(positions), dtype=np.int64)
        if idx.size == 0:
            return
        self.status[idx] = status
        if request is not None:
            self.request[idx] = request
        if reason is not None:
            for p in idx.tolist():
                self.reason[p] = reason
                if message is not None:
                    self.message[p] = message

    def mark_each(
        self, items: Sequence[tuple[int, str, str]], status: int, request: int | None = None
    ) -> None:
        """Rows with their own reasons: (position, reason, message)."""
        for position, reason, message in items:
            self.status[position] = status
            self.reason[position] = reason
            self.message[position] = message
            if request is not None:
                self.request[position] = request

    def count(self, status: int) -> int:
        return int(np.count_nonzero(self.status == status))

    def positions(self, status: int) -> np.ndarray:
        return np.flatnonzero(self.status == status)

    def fail_pending(self, reason: str, message: str) -> None:
        """Everything not finished ends as failed with this reason (nothing is dropped)."""
        self.mark(self.positions(PENDING), FAILED, reason, message)


@dataclass
class UploadResult:
    """What happened to every row of an upload.

    ``rows`` has one row per input row (the frame's own index): ``status``
    (ingested / rejected / failed / skipped), ``reason``, ``message`` and
    ``request`` (the request number that settled it). ``rejected``, ``failed``
    and ``skipped`` are the original rows plus those columns, ready to fix and
    send again: ``df.loc[result.failed.index].amplitude.upload(...)``.
    The result never holds the API key.
    """

    frame: pd.DataFrame = field(repr=False)
    ledger: RowLedger = field(repr=False)
    endpoint: str = ""
    api: str = "http"
    elapsed_s: float = 0.0
    dry_run: bool = False
    interrupted: bool = False
    validation: ValidationReport | None = field(default=None, repr=False)
    batches: int = 0  # dry run: the requests that would be sent

    # -- counts -------------------------------------------------------------
    @property
    def total(self) -> int:
        return len(self.ledger)

    @property
    def ingested_count(self) -> int:
        return self.ledger.count(INGESTED)

    @property
    def rejected_count(self) -> int:
        return self.ledger.count(REJECTED)

    @property
    def failed_count(self) -> int:
        return self.ledger.count(FAILED)

    @property
    def skipped_count(self) -> int:
        return self.ledger.count(SKIPPED)

    @property
    def sent_count(self) -> int:
        """Events that were sent (rows minus skipped and never-sent)."""
        return self.total - self.skipped_count - self.ledger.count(PENDING)

    @property
    def requests(self) -> int:
        return self.ledger.requests

    @property
    def retries(self) -> int:
        return self.ledger.retries

    @property
    def throttled(self) -> int:
        return self.ledger.throttled

    @property
    def events_per_second(self) -> float:
        return self.ingested_count / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        """True when every row was ingested (or, in a dry run, would be sent)."""
        if self.dry_run:
            return self.skipped_count == 0
        return self.ingested_count == self.total

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.total,
            "ingested": self.ingested_count,
            "rejected": self.rejected_count,
            "failed": self.failed_count,
            "skipped": self.skipped_count,
        }

    # -- frames ---------------------------------------------------------------
    @property
    def rows(self) -> pd.DataFrame:
        ledger = self.ledger
        names = np.asarray(STATUS_NAMES, dtype=object)[ledger.status]
        if self.dry_run:
            names = np.where(ledger.status == PENDING, "would send", names)
        reason = np.full(len(ledger), None, dtype=object)
        message = np.full(len(ledger), None, dtype=object)
        for p, r in ledger.reason.items():
            reason[p] = r
        for p, m in ledger.message.items():
            message[p] = m
        request = pd.array(np.where(ledger.request >= 0, ledger.request, 0), dtype="Int64")
        request[ledger.request < 0] = pd.NA
        rows: pd.DataFrame = pd.DataFrame(
            {"status": names, "reason": reason, "message": message, "request": request},
            index=self.frame.index,
        )
        return rows

    def _with_reasons(self, status: int) -> pd.DataFrame:
        positions = self.ledger.positions(status)
        part: pd.DataFrame = self.frame.iloc[positions].copy()
        reasons = [self.ledger.reason.get(int(p), "") for p in positions]
        messages = [self.ledger.message.get(int(p), "") for p in positions]
        # Named so they cannot collide with the user's columns.
        part["_amplitude_reason"] = reasons
        part["_amplitude_message"] = messages
        return part

    @property
    def rejected(self) -> pd.DataFrame:
        """Rows Amplitude refused, with ``_amplitude_reason`` / ``_amplitude_message``."""
        return self._with_reasons(REJECTED)

    @property
    def failed(self) -> pd.DataFrame:
        """Rows not delivered (retries exhausted, interrupted, quota): safe to resend."""
        return self._with_reasons(FAILED)

    @property
    def skipped(self) -> pd.DataFrame:
        """Rows not sent because they break Amplitude's rules locally."""
        return self._with_reasons(SKIPPED)

    def reasons(self) -> pd.DataFrame:
        """Counts of reasons for rows that were not ingested, with example rows."""
        rows: dict[tuple[str, str], list[Any]] = {}
        index = self.frame.index
        for p in np.flatnonzero(np.isin(self.ledger.status, (REJECTED, FAILED, SKIPPED))).tolist():
            key = (STATUS_NAMES[self.ledger.status[p]], self.ledger.reason.get(p, ""))
            rows.setdefault(key, []).append(index[p])
        records = [
            {"status": s, "reason": r, "rows": len(v), "examples": ", ".join(map(str, v[:3]))}
            for (s, r), v in sorted(rows.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ]
        table: pd.DataFrame = pd.DataFrame(records, columns=["status", "reason", "rows", "examples"])
        return table

    # -- reprs ----------------------------------------------------------------
    def summary_lines(self, *, timings: bool = True) -> list[str]:
        """The plain-text summary. ``timings=False`` leaves out what changes run to run."""
        c = self.counts()
        head = "UploadResult (dry run)" if self.dry_run else "UploadResult"
        if self.interrupted:
            head += " (interrupted)"
        lines = [f"{head}: {c['rows']:,} rows to {self.endpoint}"]
        if self.dry_run:
            lines.append(
                f"  would send {c['rows'] - c['skipped']:,} events in {self.batches:,} "
                f"request{'' if self.batches == 1 else 's'}; "
                f"skipped {c['skipped']:,}"
            )
        else:
            lines.append(
                f"  ingested {c['ingested']:,} | rejected {c['rejected']:,} | "
                f"failed {c['failed']:,} | skipped {c['skipped']:,}"
            )
            lines.append(
                f"  requests {self.requests:,} | retries {self.retries:,} | 429s {self.throttled:,}"
            )
            if timings:
                lines.append(
                    f"  {self.elapsed_s:.2f} s, {self.events_per_second:,.0f} events/s"
                )
        reasons = self.reasons()
        if len(reasons):
            lines.append("  reasons:")
            for r in reasons.itertuples(index=False):
                lines.append(f"    {r.status:<8} {r.reason}: {r.rows:,} (rows {r.examples})")
        return lines

    def __repr__(self) -> str:
        # Deterministic (no timings) so saved notebooks compare under nbval.
        return "\n".join(self.summary_lines(timings=False))

    def _repr_html_(self) -> str:
        from ._summary import render_result_html

        return render_result_html(self)
