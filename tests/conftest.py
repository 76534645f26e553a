"""Fixtures many test modules share (the builders are in builders.py): a running sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from amp_notebook.sandbox import Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A sandbox with its default settings, serving on 127.0.0.1 for the test."""
    with Sandbox() as sb:
        yield sb
