"""What happened to every row of an upload: the ledger and the UploadResult.

Pure: no IO, no clock. The upload loop writes into a :class:`RowLedger`; an
:class:`UploadResult` is the finished, read-only view of it. Every row ends in
exactly one of ingested / rejected / failed / skipped, with a reason for the
last three (the developers' guide: "nothing is lost").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from ._estimate import PacingEstimate
    from ._report import ValidationReport
    from ._sent import SendRecord
    from ._verify_report import VerifyReport

PENDING, INGESTED, REJECTED, FAILED, SKIPPED = 0, 1, 2, 3, 4
STATUS_NAMES = ("pending", "ingested", "rejected", "failed", "skipped")
OUTCOMES = STATUS_NAMES[1:]  # where every row ends ("nothing is lost"): the keys of counts()
NOT_INGESTED = tuple(name for name in OUTCOMES if name != "ingested")  # with a reason; to_resend's


class RowLedger:
    """Per-row status, note (reason and message) and request number, by row position.

    Per row: 1 byte of status and 4 of request number; a note id (4 bytes) only
    once some row has a reason. Notes are interned: every row of a failed
    10-million-row upload shares one (reason, message) pair instead of holding
    its own strings (issue 7: a dict per row was ~100 B a row).
    """

    def __init__(self, n_rows: int) -> None:
        self.status = np.zeros(n_rows, dtype=np.int8)
        self.request = np.full(n_rows, -1, dtype=np.int32)  # request numbers; 4 bytes a row
        self._note: np.ndarray | None = None  # int32 index into _notes, -1 = none; made on first use
        self._notes: list[tuple[str, str | None]] = []
        self._note_ids: dict[tuple[str, str | None], int] = {}
        self.server_answers: Counter[str] = Counter()
        self.requests = 0
        self.retries = 0
        self.throttled = 0  # 429 answers
        self.pauses = 0     # partitions paused
        self.pacing_note: str | None = None  # set when pacing was tightened after throttling
        self.splits = 0     # 413 halvings

    def __len__(self) -> int:
        return len(self.status)

    def _note_id(self, reason: str, message: str | None) -> int:
        key = (reason, message)
        found = self._note_ids.get(key)
        if found is None:
            found = self._note_ids[key] = len(self._notes)
            self._notes.append(key)
        return found

    def _notes_array(self) -> np.ndarray:
        if self._note is None:
            self._note = np.full(len(self.status), -1, dtype=np.int32)
        return self._note

    def mark(
        self,
        positions: Iterable[int] | np.ndarray,
        status: int,
        reason: str | None = None,
        message: str | None = None,
        request: int | None = None,
    ) -> None:
        """Set the status of these rows; with a reason (and message) for them all, else none."""
        idx = np.asarray(positions if isinstance(positions, np.ndarray) else list(positions), dtype=np.int64)
        if idx.size == 0:
            return
        self.status[idx] = status
        if request is not None:
            self.request[idx] = request
        if reason is not None:
            self._notes_array()[idx] = self._note_id(reason, message)
        elif self._note is not None:
            self._note[idx] = -1

    def mark_each(
        self, items: Sequence[tuple[int, str, str]], status: int, request: int | None = None
    ) -> None:
        """Rows with their own reasons: (position, reason, message)."""
        if not items:
            return
        notes = self._notes_array()
        for position, reason, message in items:
            self.status[position] = status
            notes[position] = self._note_id(reason, message)
            if request is not None:
                self.request[position] = request

    def count(self, status: int) -> int:
        return int(np.count_nonzero(self.status == status))

    def positions(self, status: int) -> np.ndarray:
        return np.flatnonzero(self.status == status)

    def fail_pending(self, reason: str, message: str) -> None:
        """Everything not finished ends as failed with this reason (nothing is dropped)."""
        self.mark(self.positions(PENDING), FAILED, reason, message)

    def note_ids(self, positions: np.ndarray | None = None) -> np.ndarray:
        """The note id of each row (or of ``positions``): -1 where there is none."""
        n = len(self.status) if positions is None else len(positions)
        if self._note is None:
            return np.full(n, -1, dtype=np.int32)
        return self._note if positions is None else self._note[positions]

    def note_table(self, default: str | None) -> tuple[np.ndarray, np.ndarray]:
        """Reasons and messages by ``note id + 1`` (index 0: no note -> ``default``), as object arrays."""
        reasons = np.empty(len(self._notes) + 1, dtype=object)
        messages = np.empty(len(self._notes) + 1, dtype=object)
        reasons[0] = messages[0] = default
        for k, (r, m) in enumerate(self._notes, start=1):
            reasons[k] = r
            messages[k] = m if m is not None else default
        return reasons, messages


def resend_statuses(status: str | Iterable[str]) -> tuple[str, ...]:
    """The statuses ``to_resend(status)`` asks for, checked: rows ingested are never resent."""
    wanted = (status,) if isinstance(status, str) else tuple(status)
    for name in wanted:
        if name not in NOT_INGESTED:
            raise ValueError(f"status must be 'failed', 'rejected' or 'skipped', not {name!r}")
    return wanted


def reasons_table(statuses: np.ndarray, reasons: np.ndarray, labels: pd.Index) -> pd.DataFrame:
    """Rows per (status, reason) with the first three rows' labels, most rows first.

    One entry per row not ingested, in frame order: its status name, reason and index label.
    """
    records: list[dict[str, object]] = []
    if len(statuses):
        # Grouped by (status, reason text): several notes may share a reason.
        groups = pd.DataFrame(
            {"status": statuses, "reason": reasons, "at": np.arange(len(statuses))}
        ).groupby(["status", "reason"], sort=True, dropna=False)["at"]
        for (status, reason), group in groups:
            first = group.to_numpy()[:3]
            records.append(
                {"status": status, "reason": reason, "rows": len(group),
                 "examples": ", ".join(map(str, labels[first]))}
            )
        # Most rows first; a stable sort keeps ties in (status, reason) order.
        records.sort(key=lambda rec: -cast("int", rec["rows"]))
    table: pd.DataFrame = pd.DataFrame(records, columns=["status", "reason", "rows", "examples"])
    return table


@dataclass
class UploadResult:
    """What happened to every row of an upload.

    ``rows`` has one row per input row (the frame's own index): ``status``
    (ingested / rejected / failed / skipped), ``reason``, ``message`` and
    ``request`` (the request number that settled it). ``rejected``, ``failed``
    and ``skipped`` are the original rows plus those columns, ready to fix and
    send again: ``result.to_resend().amplitude.upload(...)`` (by position).
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
    sent: SendRecord | None = field(default=None, repr=False)  # where and when, for verify()
    pacing: PacingEstimate | None = field(default=None, repr=False)  # what pacing costs at least
    # What a row is sent as, the accessor method that sends it, and lines to show with the
    # summary (Identify: what resending an add does).
    unit: str = "events"
    method: str = "upload"
    notes: tuple[str, ...] = ()
    # How verify() reads the Export API: handed in by the sending layer that made the result
    # (``_verify_run.verify_upload``), so this pure module never imports the IO code.
    verifier: Callable[..., VerifyReport] | None = field(default=None, repr=False, compare=False)

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
    def pacing_note(self) -> str | None:
        """Whether and why pacing was tightened during the upload (after Amplitude throttled devices)."""
        return self.ledger.pacing_note

    def pacing_lines(self) -> list[str]:
        """The pacing lower bound (busiest devices, time, the Batch API's) and any tightening."""
        lines = self.pacing.lines() if self.pacing is not None else []
        if self.pacing_note:
            lines.append(self.pacing_note)
        return lines

    @property
    def events_per_second(self) -> float:
        return self.ingested_count / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        """True when every row was ingested (or, in a dry run, would be sent)."""
        if self.dry_run:
            return self.skipped_count == 0
        return self.ingested_count == self.total

    @property
    def duplicate_count(self) -> int:
        """Rows sent (or, in a dry run, to be sent) that repeat an earlier row's insert_id.

        Amplitude accepts them and keeps one event of each (validation's
        ``duplicate_event`` warning says which rows): counted as ingested, stored once.
        """
        if self.validation is None:
            return 0
        failures = self.validation.failures
        positions = failures.index[(failures["reason"] == "duplicate_event").to_numpy()].to_numpy()
        sent = PENDING if self.dry_run else INGESTED
        return int(np.count_nonzero(self.ledger.status[positions] == sent))

    def duplicates_line(self) -> str | None:
        from ._summary import duplicates_line

        return duplicates_line(self)

    def preflight_lines(self) -> list[str]:
        """The backfill pre-flight's warnings in a line each (daily quota, old user properties)."""
        from ._preflight import summary_lines

        return summary_lines(self.validation.failures) if self.validation is not None else []

    def counts(self) -> dict[str, int]:
        """rows, then rows per outcome (ingested, rejected, failed, skipped)."""
        return {"rows": self.total, **{name: self.ledger.count(STATUS_NAMES.index(name)) for name in OUTCOMES}}

    # -- frames ---------------------------------------------------------------
    @property
    def rows(self) -> pd.DataFrame:
        ledger = self.ledger
        names = np.asarray(STATUS_NAMES, dtype=object)[ledger.status]
        if self.dry_run:
            names = np.where(ledger.status == PENDING, "would send", names)
        reasons, messages = ledger.note_table(None)
        codes = ledger.note_ids() + 1
        request = pd.array(np.where(ledger.request >= 0, ledger.request, 0), dtype="Int64")
        request[ledger.request < 0] = pd.NA
        rows: pd.DataFrame = pd.DataFrame(
            {"status": names, "reason": reasons[codes], "message": messages[codes], "request": request},
            index=self.frame.index,
        )
        return rows

    def _with_reasons(self, status: int) -> pd.DataFrame:
        positions = self.ledger.positions(status)
        part: pd.DataFrame = self.frame.iloc[positions].copy()
        reasons, messages = self.ledger.note_table("")
        codes = self.ledger.note_ids(positions) + 1
        # Named so they cannot collide with the user's columns.
        part["_amplitude_reason"] = reasons[codes].tolist()
        part["_amplitude_message"] = messages[codes].tolist()
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

    def to_resend(self, status: str | Iterable[str] = "failed") -> pd.DataFrame:
        """The rows to send again, as the uploaded frame's own rows and columns.

        Picked by position, so a frame whose index labels repeat (after ``pd.concat``)
        gives exactly these rows, where ``df.loc[result.failed.index]`` would pick every
        row sharing a label. ``status``: "failed" (the default: undelivered, safe to
        resend as they are), or "rejected" / "skipped" (fix them first), or several.
        ``result.to_resend().amplitude.upload(...)``.
        """
        codes = [STATUS_NAMES.index(name) for name in resend_statuses(status)]
        positions = np.flatnonzero(np.isin(self.ledger.status, codes))
        return cast(pd.DataFrame, self.frame.iloc[positions].copy())

    def reasons(self) -> pd.DataFrame:
        """Counts of reasons for rows that were not ingested, with example rows (the first three)."""
        ledger = self.ledger
        positions = np.flatnonzero(np.isin(ledger.status, (REJECTED, FAILED, SKIPPED)))
        reasons, _ = ledger.note_table("")
        return reasons_table(
            np.asarray(STATUS_NAMES, dtype=object)[ledger.status[positions]],
            reasons[ledger.note_ids(positions) + 1],
            self.frame.index[positions],
        )

    def verify(self, secret_key: Any = None, *, export_endpoint: str | None = None, **options: Any) -> VerifyReport:
        """Did every ingested row land? Reads Amplitude's Export API for the hours of the
        upload and looks for each ingested row's insert_id (and device/user id) there.

        ``secret_key``: the project's secret key (else ``%amplitude secret``, else
        ``AMPLITUDE_SECRET_KEY``); the API key as for the upload. ``export_endpoint``:
        the full URL of an Export API (the sandbox's ``export_url``); by default the
        one of the upload's region. More options: ``amp_notebook._verify_run.verify_upload``.
        """
        from ._config import hide_key, hide_secret_key
        from ._exceptions import ConfigurationError

        secret_key = hide_secret_key(secret_key)  # before anything can raise: see _config.hide_key
        if "api_key" in options:
            options["api_key"] = hide_key(options["api_key"])
        if self.verifier is None:
            raise ConfigurationError(
                f"verify() looks for uploaded events in the Export API: this {self.method} result has none"
            )
        sent = None if self.dry_run else self.sent
        return self.verifier(self.frame, self.ledger.positions(INGESTED), sent, secret_key,
                             export_endpoint=export_endpoint, **options)

    # -- reprs ----------------------------------------------------------------
    def summary_lines(self, *, timings: bool = True) -> list[str]:
        """The plain-text summary. ``timings=False`` leaves out what changes run to run."""
        from ._summary import summary_lines

        return summary_lines(self, timings=timings, unit=self.unit, extra=[f"note: {n}" for n in self.notes])

    def __repr__(self) -> str:
        # Deterministic (no timings) so saved notebooks compare under nbval.
        return "\n".join(self.summary_lines(timings=False))

    def _repr_html_(self) -> str:
        from ._summary import render_result_html

        return render_result_html(self, unit=self.unit, method=self.method, extra=[f"note: {n}" for n in self.notes])
