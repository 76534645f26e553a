"""What an upload remembers so that its events can be found again (``result.verify()``).

Pure and small: where the requests went, when (the wall clock, which the Export
API's hours are counted in), and how rows became events (the mapping and the
encoding options: re-encoding the ingested rows gives back their insert_ids, at
no cost to the upload itself).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._encoding import EncodeOptions
from ._mapping import ResolvedMapping


@dataclass
class SendRecord:
    """``started_at`` / ``finished_at``: seconds since the epoch (UTC) around the sending."""

    url: str
    region: str | None
    mapping: ResolvedMapping
    options: EncodeOptions
    rows: int
    started_at: float
    finished_at: float | None = None

    def __repr__(self) -> str:
        return f"SendRecord({self.url!r}, rows={self.rows:,})"


__all__ = ["SendRecord"]
