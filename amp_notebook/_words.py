"""Counts in words for messages and summaries: "1 row", "2 rows", "1,000 events"."""

from __future__ import annotations

__all__ = ["plural"]


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and ``word``, in the plural unless ``n`` is 1 (``many`` when not just word + "s")."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
