"""The example notebooks under nbval: the Dask notebook needs the ``dask`` extra.

The README's test command installs it (``pip install -e ".[test,dask]"``), as CI
does. Without it, notebook 08's cells are skipped with a message saying what to
install, instead of failing on ``import dask``.
"""

from __future__ import annotations

import importlib.util

import pytest

NEEDS_DASK = ("08-dask.ipynb",)


def _have_dask() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("dask", "distributed", "pyarrow"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _have_dask():
        return
    skip = pytest.mark.skip(
        reason='the Dask notebook needs the dask extra: python -m pip install -e ".[test,dask]"'
    )
    for item in items:
        if item.path.name in NEEDS_DASK:
            item.add_marker(skip)
