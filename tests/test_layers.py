"""The package's layers, read from the source: no import cycles, and imports only point down.

Every module of ``amp_notebook`` is parsed (nothing is imported) and every import is
read, the ones inside functions and under ``TYPE_CHECKING`` included: a lazy import
is still a dependency. A new module must be placed in :data:`LAYERS`; the test says
which import breaks the direction, with its line.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import amp_notebook

PACKAGE = Path(amp_notebook.__file__).parent

# One table: the layers from the bottom up, the modules in each (a name ending in "."
# is a sub-package, all of it), the layers each may import from, and the third-party
# packages it must never import (at any depth, lazily included).
UI_PACKAGES = ("IPython", "ipywidgets")
IO_PACKAGES = ("httpx", "dask", "distributed", *UI_PACKAGES)


@dataclass(frozen=True)
class Layer:
    name: str
    what: str
    modules: tuple[str, ...]
    may_import: tuple[str, ...]
    banned: tuple[str, ...]


LAYERS = (
    Layer(
        "core", "pure: data in, decisions out; no IO, no clock, no sleep",
        (
            "_exceptions", "_config", "_keys", "_logging", "_words", "_options",
            "_mapping", "_insert_key", "_key_ids", "_times", "_time_text", "_values", "_prepared", "_send_as_is", "_encoding",
            "_rule_table", "_rules", "_validation", "_duplicates", "_preflight", "_unmapped",
            "_plan", "_pool", "_live", "_throttle", "_batching", "_scheduler", "_estimate",
            "_responses", "_blame", "_retry", "_wire", "_form", "_progress_model",
            "_report", "_styler", "_result", "_summary", "_rowreport", "_sent",
            "_verify", "_verify_report", "_export_hours", "_export_zip", "_export_frame",
            "_identify_mapping", "_identify_validation", "_identify_encoding",
            "demo",
        ),
        ("core",), IO_PACKAGES,
    ),
    Layer(
        "sending", "httpx: the one async loop, the send step, uploads, exports, the sync runner, text progress",
        (
            "_client", "_send", "_upload", "_identify_upload", "_runner", "_progress",
            "_export", "_export_http", "_verify_run",
            # Process-wide defaults (pure state, no IPython): %amplitude writes them, the
            # upload entry points read them.
            "_session",
        ),
        ("core", "sending"), ("dask", "distributed", *UI_PACKAGES),
    ),
    Layer(
        "sandbox", "the local emulator of Amplitude's API: an independent oracle",
        ("sandbox.",),
        ("core", "sandbox"), ("dask", "distributed", *UI_PACKAGES),
    ),
    Layer(
        "notebook", "IPython / ipywidgets, imported lazily: progress display, mapper, magics",
        ("_jupyter.",),
        ("core", "sending", "sandbox", "notebook", "front"), ("dask", "distributed"),
    ),
    Layer(
        "front", "public entry points and engines: the package, df.amplitude, the CLI, Dask",
        ("__init__", "accessor", "_api", "_identify_api", "cli", "_files", "dask", "_dask."),
        ("core", "sending", "sandbox", "notebook", "front"), (),
    ),
)


def _module_name(path: Path) -> str:
    """"_config", "sandbox._server"; a sub-package's __init__ is "sandbox", the package's "__init__"."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _in(module: str, entry: str) -> bool:
    return module == entry or (entry.endswith(".") and (module + ".").startswith(entry))


@cache
def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> Layer:
    found = [
        layer for layer in LAYERS
        for entry in layer.modules
        if _in(module, entry)
    ]
    assert len(found) == 1, f"{module} must be in exactly one layer of LAYERS (tests/test_layers.py), is in {found}"
    return found[0]


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    line: int
    target: str  # an amp_notebook module ("_config", "sandbox", "__init__") or a third-party name
    ours: bool
    lazy: bool  # inside a function, class or if-block (TYPE_CHECKING included)

    def __str__(self) -> str:
        how = "lazy " if self.lazy else ""
        return f"amp_notebook/{modules()[self.module].relative_to(PACKAGE)}:{self.line}: {how}import of {self.target}"


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    """The amp_notebook modules an ``import from`` names (the package itself as "__init__")."""
    known = modules()
    if node.level:
        here = [] if module == "__init__" else module.split(".")
        package = here if known[module].name == "__init__.py" else here[:-1]
        absolute = ".".join(["amp_notebook", *package[: len(package) - (node.level - 1)], *filter(None, [node.module])])
    else:
        absolute = node.module or ""
    if absolute != "amp_notebook" and not absolute.startswith("amp_notebook."):
        return []
    prefix = absolute.removeprefix("amp_notebook").lstrip(".")
    found = []
    for alias in node.names:
        sub = f"{prefix}.{alias.name}" if prefix else alias.name
        if sub in known:
            found.append(sub)  # from . import _session
        elif prefix in known:
            found.append(prefix)  # from ._config import ApiKey
        else:
            found.append(prefix or "__init__")  # from .sandbox import Sandbox
    return found


@cache
def imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for module, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            lazy = id(node) not in top
            if isinstance(node, ast.ImportFrom):
                targets = _resolve(module, node)
                found += [Import(module, node.lineno, t, True, lazy) for t in dict.fromkeys(targets)]
                if not targets and not node.level and node.module:
                    found.append(Import(module, node.lineno, node.module, False, lazy))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    ours = alias.name == "amp_notebook" or alias.name.startswith("amp_notebook.")
                    target = alias.name.removeprefix("amp_notebook").lstrip(".") or "__init__"
                    found.append(Import(module, node.lineno, target if ours else alias.name, ours, lazy))
    return tuple(found)


def test_every_module_is_in_one_layer() -> None:
    for module in modules():
        layer_of(module)
    for layer in LAYERS:
        for entry in layer.modules:
            assert any(_in(m, entry) for m in modules()), (
                f"LAYERS names {entry!r} ({layer.name}), which is not a module of the package"
            )


def test_imports_point_down() -> None:
    wrong = []
    for imp in imports():
        mine = layer_of(imp.module)
        if imp.ours:
            theirs = layer_of(imp.target)
            if theirs.name not in mine.may_import:
                wrong.append(f"{imp} ({mine.name} may not import {theirs.name})")
        elif imp.target.split(".")[0] in mine.banned:
            wrong.append(f"{imp} ({mine.name} may not import {imp.target.split('.')[0]})")
    assert not wrong, "imports against the layers (tests/test_layers.py, LAYERS):\n" + "\n".join(wrong)


def test_the_sandbox_judges_on_its_own() -> None:
    # An independent oracle (design.md): the sandbox restates Amplitude's rules from the
    # reference instead of importing the validator's; it shares only the key catalogue.
    shared = {imp.target for imp in imports() if imp.ours and layer_of(imp.module).name == "sandbox"}
    assert {t for t in shared if layer_of(t).name != "sandbox"} == {"_keys"}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a chain of modules, or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_cycles() -> None:
    # As ../shared/tools/import-cycles.py counts them: lazy imports included, an import of
    # a package's __init__ (``from . import x``, ``import amp_notebook``) not an edge.
    packages = {m for m, p in modules().items() if p.name == "__init__.py"}
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for imp in imports():
        if imp.ours and imp.target != imp.module and imp.target not in packages:
            graph[imp.module].add(imp.target)
    assert _cycle(graph) is None, "import cycle: " + " -> ".join(_cycle(graph) or [])


def test_the_checks_see_a_lazy_upward_import() -> None:
    # The test must be able to fail: a lazy import from the core into the sending layer is found.
    tree = ast.parse("def f():\n    from ._client import Uploader\n")
    node = tree.body[0].body[0]  # type: ignore[attr-defined]
    assert _resolve("_result", node) == ["_client"]
    assert layer_of("_client").name not in layer_of("_result").may_import
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_core_imports_without_io_or_ui_libraries() -> None:
    # The same promise at run time: with httpx, IPython and ipywidgets blocked, the core imports.
    core = [m for m in modules() if layer_of(m).name == "core"]
    code = textwrap.dedent(
        f"""
        import sys
        for name in ("httpx", "IPython", "ipywidgets", "dask", "distributed"):
            sys.modules[name] = None
        import importlib
        for module in {core!r}:
            importlib.import_module("amp_notebook." + module)
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
