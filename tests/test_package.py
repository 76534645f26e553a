"""The package's public surface and error tree (the layers: tests/test_layers.py).

``__all__`` is checked against the modules themselves, as httpx's tests do: a public
name that a module defines or a package re-exports must be in its ``__all__``, and every
name there must exist. Notebooks and the README use public names only.
"""

from __future__ import annotations
import __future__

import ast
import importlib
import json
import re
import types
from pathlib import Path

import pytest

import amp_notebook

PACKAGE = Path(amp_notebook.__file__).parent
ROOT = PACKAGE.parent
# A command-line script: its public surface is the command line (tests/test_cli*.py).
SCRIPTS = {"amp_notebook.cli"}


def _public_modules() -> list[str]:
    """Every module of the package whose dotted name has no part starting with "_"."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["amp_notebook", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        if not any(p.startswith("_") for p in parts[1:]) and name not in SCRIPTS:
            found.append(name)
    return found


def _defined_names(module: types.ModuleType) -> set[str]:
    """The public names a module defines at its top level (def, class, assignment)."""
    tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


def _package_names(module: types.ModuleType) -> set[str]:
    """A package's namespace is what it exports: every public name bound there (submodules
    and ``from __future__`` flags aside)."""
    return {
        name for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, (types.ModuleType, __future__._Feature))  # type: ignore[attr-defined]
    }


def test_the_public_modules_are_found() -> None:
    assert {"amp_notebook", "amp_notebook.sandbox", "amp_notebook.demo", "amp_notebook.dask"} <= set(_public_modules())


@pytest.mark.parametrize("name", _public_modules())
def test_all_lists_every_public_name_and_only_those(name: str) -> None:
    if name == "amp_notebook.dask":  # needs the dask extra (CI's pandas-2.2 pass runs without it)
        pytest.importorskip("dask.dataframe")
        pytest.importorskip("distributed")
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(set(exported)) == len(exported), f"{name}.__all__ names something twice"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what {name} does not have: {missing}"
    public = _package_names(module) if Path(module.__file__ or "").name == "__init__.py" else _defined_names(module)
    assert not public - set(exported), f"public in {name} but not in its __all__: {sorted(public - set(exported))}"


def test_the_surface_holds_what_users_are_handed() -> None:
    import amp_notebook.demo

    # Returned by public functions or needed by the notebooks (issue 16 item 6).
    for name in ("Pacing", "RetryPolicy", "EventPreview", "UploadResult", "ValidationReport", "VerifyReport"):
        assert name in amp_notebook.__all__
    assert isinstance(amp_notebook.preview(amp_notebook.demo.sample_events(2)), amp_notebook.EventPreview)
    assert {"sample_events", "DEMO_MAPPING"} <= set(amp_notebook.demo.__all__)


def test_error_tree() -> None:
    e = amp_notebook

    assert issubclass(e.MappingError, e.LocalError) and issubclass(e.ValidationError, e.LocalError)
    assert issubclass(e.ConfigurationError, e.LocalError)
    assert issubclass(e.InvalidApiKey, e.RequestRejected) and issubclass(e.RequestRejected, e.RemoteError)
    assert issubclass(e.ExportError, e.RemoteError)
    # Stopped by the user: nobody remote said no. Still a KeyboardInterrupt (asyncio and Jupyter
    # treat it as one) and an AmpNotebookError.
    assert issubclass(e.UploadInterrupted, KeyboardInterrupt) and issubclass(e.UploadInterrupted, e.AmpNotebookError)
    assert not issubclass(e.UploadInterrupted, (e.RemoteError, e.LocalError))
    for cls in (e.LocalError, e.RemoteError):
        assert issubclass(cls, e.AmpNotebookError)


def test_importing_registers_the_accessor() -> None:
    import pandas as pd

    assert hasattr(pd.DataFrame({"a": [1]}), "amplitude")


# ----------------------------------------------------------- notebooks and README


def _private_uses(code: str) -> list[str]:
    """The private amp_notebook names ``code`` imports or reaches (``amp_notebook._x``)."""
    lines = [line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))]
    found = re.findall(r"\bamp_notebook(?:\.\w+)*\._\w+", "\n".join(lines))
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "amp_notebook":
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_") and a.name != "__version__"]
    return found


def _user_code() -> dict[str, str]:
    code = {}
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        for i, cell in enumerate(cells):
            if cell["cell_type"] == "code":
                code[f"{notebook.name} cell {i}"] = "".join(cell["source"])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", readme, flags=re.S)):
        code[f"README.md python block {i + 1}"] = block
    return code


def test_notebooks_and_readme_use_public_names_only() -> None:
    code = _user_code()
    assert any(k.startswith("README") for k in code) and any(k.startswith("01-") for k in code)
    private = {where: uses for where, text in code.items() if (uses := _private_uses(text))}
    assert not private, f"notebooks / README reach private names: {private}"
    seen = _private_uses("from amp_notebook._config import Pacing\nfrom amp_notebook import _session\n%load_ext x")
    assert seen == ["amp_notebook._config", "amp_notebook._session"]
