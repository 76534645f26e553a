"""Rows -> JSON-ready Amplitude events (being written: see the contract)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EncodedChunk:
    """Events for a run of rows, encoded once.

    ``positions``: int64 row positions in the frame; ``payloads``: one compact JSON
    object per event (insert_id included); ``partitions``: the key Amplitude
    throttles by (device_id, else "user:" + user_id).
    """

    positions: np.ndarray
    payloads: list[bytes]
    partitions: list[str]

    def __len__(self) -> int:
        return len(self.payloads)
