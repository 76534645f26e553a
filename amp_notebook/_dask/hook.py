"""``ddf.amplitude`` on Dask DataFrames, registered without importing Dask.

Importing dask.dataframe takes about a second and most users never use it, so
``import amp_notebook`` must not import it. Both import orders still work:

- dask.dataframe already imported: :func:`install` registers the accessor at once
  (by importing ``amp_notebook.dask``);
- not yet: a finder on ``sys.meta_path`` waits for ``import dask.dataframe``, lets
  the real loader run it, then registers the accessor and removes itself. The
  module keeps its own spec and loader, so importlib.resources and reloads see
  nothing of the hook.

Nothing here imports dask; without dask installed nothing happens at all. A
failure while registering warns and never breaks the user's ``import dask``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import warnings
from collections.abc import Sequence
from types import ModuleType

__all__ = ["install"]

_TARGET = "dask.dataframe"
_lock = threading.Lock()


def _register() -> None:
    try:
        importlib.import_module("amp_notebook.dask")
    except Exception as exc:  # an old or broken dask: the pandas accessor still works
        warnings.warn(
            f"amp_notebook could not add the .amplitude accessor to Dask DataFrames "
            f"({type(exc).__name__}: {exc}); pandas DataFrames are not affected",
            RuntimeWarning,
            stacklevel=2,
        )


class _RegisterAfter(importlib.abc.Loader):
    """Runs the real loader, then registers the accessor."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # Put the real loader back first: the module must look as if we were never here.
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        module.__loader__ = self.loader
        self.loader.exec_module(module)
        _register()


class _DaskFinder(importlib.abc.MetaPathFinder):
    """Waits for ``import dask.dataframe``; answers for nothing else."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _TARGET:
            return None
        _uninstall()  # once is enough; and the lookup below must not come back here
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _RegisterAfter(spec.loader)
        return spec


_finder = _DaskFinder()


def _uninstall() -> None:
    with _lock:
        if _finder in sys.meta_path:
            sys.meta_path.remove(_finder)


def install() -> None:
    """Register now if dask.dataframe is imported, else when it is."""
    if _TARGET in sys.modules:
        _register()
        return
    if importlib.util.find_spec("dask") is None:  # finds, never imports, a top-level name
        return  # dask is not installed
    with _lock:
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)
