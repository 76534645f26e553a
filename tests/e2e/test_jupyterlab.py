"""End to end: the widgets and HTML outputs in a real JupyterLab, driven by headless Chromium.

Starts JupyterLab on 127.0.0.1 (free port, random token) over a temporary copy of
``e2e_widgets.ipynb``, opens it with Playwright (sync API) in the system Chromium
(Debian's ``chromium`` package; Playwright's own browser download is not used),
clears the outputs, runs all cells and reads the page: execution counts, the
upload progress bar (full, success style), the summary tiles, the highlighted
validation table, no unexpected errors, and the mapper reacting to a dropdown.
Screenshots go to a temporary folder, so a test run never changes the repository;
the README's are refreshed on purpose, with
``AMP_E2E_SCREENSHOTS=docs/screenshots pytest tests/e2e -m e2e``.

Skips (never passes silently) when Chromium, Playwright or JupyterLab is missing.
Run: ``pytest -m e2e tests/e2e -s`` (about 30 s).
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
NOTEBOOK = "e2e_widgets.ipynb"
QUICKSTART = "01-quickstart.ipynb"  # from the repo's notebooks/
# Where screenshots go: a temporary folder unless AMP_E2E_SCREENSHOTS names one
# (docs/screenshots to refresh the README's: an explicit command, never a side effect).
SCREENSHOTS_ENV = "AMP_E2E_SCREENSHOTS"
CHROMIUM = os.environ.get("AMP_E2E_CHROMIUM", "/usr/bin/chromium")
# The flags this machine needs (no GPU, no sandbox as root, and no background
# connections: the closed network refuses them).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_S = 60.0
KERNEL_READY_MS = 60_000
RUN_ALL_MS = 90_000
UI_MS = 20_000

# ipywidgets' bar_style "success" on the Bootstrap-like bar (same class name in ipywidgets 7 and 8).
SUCCESS_CLASS = "progress-bar-success"
# _styler.ERROR_CSS "background-color: #f8d7da" as the browser computes it.
ERROR_BACKGROUND = "rgb(248, 215, 218)"


def _skip_reasons() -> list[str]:
    reasons = []
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        reasons.append(
            f"Chromium not found at {CHROMIUM} (apt-get install -y chromium, or set AMP_E2E_CHROMIUM)"
        )
    for module, package in (("playwright.sync_api", "playwright"), ("jupyterlab", "jupyterlab")):
        try:
            __import__(module)
        except ImportError as exc:
            reasons.append(
                f"{package} is not installed in {sys.executable} ({exc}); pip install {package}"
            )
    return reasons


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path


def _wait_for_server(lab: Lab, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_S
    status = f"{lab.url}/api/status?token={lab.token}"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with {proc.returncode}:\n{lab.log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(status, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(
        f"JupyterLab did not answer within {SERVER_START_S:.0f} s:\n{lab.log.read_text()[-3000:]}"
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    reasons = _skip_reasons()
    if reasons:
        pytest.skip("e2e skipped: " + "; ".join(reasons))
    base = tmp_path_factory.mktemp("lab")
    # A copy: running clears and rewrites outputs, and Lab may autosave.
    root = base / "notebooks"
    if (REPO / "notebooks").is_dir():
        shutil.copytree(
            REPO / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints")
        )
    else:
        root.mkdir()
    shutil.copy(HERE / NOTEBOOK, root / NOTEBOOK)
    token = secrets.token_hex(16)
    port = _free_port()
    env = dict(os.environ)
    # Own Jupyter dirs: no state from (or into) the developer's ~/.jupyter and workspaces.
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[name] = str(base / name.lower())
    # No "get notified about Jupyter news?" toast over the outputs (and no fetch to the internet).
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    log = base / "jupyterlab.log"
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        # window.jupyterapp, to run commands instead of guessing keyboard shortcuts.
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
        f"--LabApp.user_settings_dir={base / 'settings'}",
        # No update check / news: the machine has no outside network.
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
    lab = Lab(url=f"http://127.0.0.1:{port}", token=token, root=root, log=log)
    try:
        _wait_for_server(lab, proc)
        yield lab
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def browser(lab: Lab) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _open_notebook(browser: Any, lab: Lab, name: str) -> Any:
    """A new page with notebook ``name`` open and its kernel started."""
    # Wide enough that the validation table (with its reasons column) is not scrolled sideways.
    context = browser.new_context(viewport={"width": 1920, "height": 1200})
    page = context.new_page()
    page.set_default_timeout(UI_MS)
    page.goto(f"{lab.url}/lab/tree/{name}?token={lab.token}", wait_until="domcontentloaded")
    page.wait_for_function(
        """(name) => {
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            return w && w.sessionContext && w.context && w.context.path === name;
        }""",
        arg=name,
        timeout=KERNEL_READY_MS,
    )
    page.evaluate(
        """async () => {
            const nb = window.jupyterapp.shell.currentWidget;
            await nb.context.ready;
            await nb.sessionContext.ready;
            // Outputs only: the file browser would squeeze the notebook.
            if (!window.jupyterapp.shell.leftCollapsed) window.jupyterapp.shell.collapseLeft();
        }"""
    )
    return page


def _run_all(page: Any) -> float:
    """Clear the outputs, Run All, wait until every code cell has a count and the kernel is idle."""
    started = time.monotonic()
    page.evaluate(
        """async () => {
            const app = window.jupyterapp;
            await app.commands.execute('notebook:clear-all-cell-outputs');
            await app.commands.execute('notebook:run-all-cells');
        }"""
    )
    page.wait_for_function(
        """() => {
            const nb = window.jupyterapp.shell.currentWidget;
            const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
            if (!kernel || kernel.status !== 'idle') return false;
            const cells = nb.content.widgets.filter(c => c.model.type === 'code');
            const prompts = Array.from(nb.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt'));
            return cells.every(c => typeof c.model.executionCount === 'number')
                && prompts.every(p => !p.textContent.includes('*'));
        }""",
        timeout=RUN_ALL_MS,
        polling=250,
    )
    return time.monotonic() - started


@pytest.fixture(scope="module")
def executed(browser: Any, lab: Lab) -> Any:
    """``e2e_widgets.ipynb`` with outputs cleared and every cell run; the kernel idle again."""
    page = _open_notebook(browser, lab, NOTEBOOK)
    elapsed = _run_all(page)
    print(f"\nrun all {NOTEBOOK}: {elapsed:.1f} s")
    print(f"screenshots: {_screenshots()}")
    return page


@functools.lru_cache(maxsize=1)
def _screenshots() -> Path:
    wanted = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(wanted) if wanted else Path(tempfile.mkdtemp(prefix="amp-e2e-screenshots-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _cell(page: Any, index: int) -> Any:
    """The DOM node of the notebook's cell ``index`` (0-based, markdown cells included)."""
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def _cell_index(page: Any, needle: str) -> int:
    index = page.evaluate(
        """(needle) => window.jupyterapp.shell.currentWidget.content.widgets
               .findIndex(c => c.model.sharedModel.getSource().includes(needle))""",
        needle,
    )
    assert index >= 0, f"no cell contains {needle!r}"
    return int(index)


def _code_cells(page: Any) -> list[dict[str, Any]]:
    """Per code cell of the open notebook: execution count, tags, and its error outputs."""
    return list(
        page.evaluate(
            """() => window.jupyterapp.shell.currentWidget.content.widgets
                   .filter(c => c.model.type === 'code')
                   .map(c => ({
                       count: c.model.executionCount,
                       tags: c.model.getMetadata('tags') || [],
                       errors: Array.from({length: c.model.outputs.length}, (_, i) => c.model.outputs.get(i).toJSON())
                           .filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
                   }))"""
        )
    )


def _shoot_top(page: Any, cell: Any, name: str) -> None:
    """The viewport with ``cell`` scrolled to its top (element shots of very tall cells come out garbled)."""
    # Twice: the notebook may scroll itself to the active cell after the first paint.
    for _ in range(2):
        cell.locator(".jp-OutputArea-output").first.evaluate(
            "o => o.scrollIntoView({block: 'start'})"
        )
        page.wait_for_timeout(400)
    page.locator(".jp-NotebookPanel:visible").first.screenshot(path=str(_screenshots() / name))


def _misplaced_highlights(table: Any) -> list[str]:
    """Highlighted cells whose column the row's ``reasons`` text does not name (row label: column)."""
    return list(
        table.evaluate(
            """(t) => {
                const heads = Array.from(t.querySelectorAll('thead tr:last-child th')).map(h => h.textContent.trim());
                const out = [];
                for (const tr of t.querySelectorAll('tbody tr')) {
                    const cells = Array.from(tr.children);
                    const reasons = cells[cells.length - 1].textContent;
                    cells.slice(1, -1).forEach((td, i) => {
                        const column = heads[i + 1];
                        if (getComputedStyle(td).backgroundColor === arguments[1]
                            && !reasons.includes(column + ':') && !reasons.includes('.' + column + ':'))
                            out.push(cells[0].textContent.trim() + ': ' + column);
                    });
                }
                return out;
            }""".replace("arguments[1]", repr(ERROR_BACKGROUND))
        )
    )


def _expected() -> dict[str, int]:
    from amp_notebook.demo import INVALID_ROWS

    return {"rows": 300, "skipped": len(INVALID_ROWS), "ingested": 300 - len(INVALID_ROWS)}


def test_every_cell_ran_and_only_tagged_cells_raised(executed: Any) -> None:
    prompts = executed.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_inner_texts()
    assert prompts, "no code cells found"
    # "[3]:" when run; "[ ]:" never run, "[*]:" still queued or running.
    assert all(re.fullmatch(r"\[\d+\]:?", p.strip()) for p in prompts), prompts
    cells = _code_cells(executed)
    unexpected = [c for c in cells if c["errors"] and "raises-exception" not in c["tags"]]
    assert not unexpected, f"error outputs in untagged cells: {unexpected}"
    tagged = [c for c in cells if "raises-exception" in c["tags"]]
    assert tagged and all(c["errors"] for c in tagged), (
        f"a raises-exception cell did not raise: {tagged}"
    )
    assert "MappingError" in tagged[0]["errors"][0]
    # Nothing about a missing widget manager / failed model load in the page either.
    assert executed.locator("text=Error displaying widget").count() == 0
    assert executed.locator("text=Loading widget...").count() == 0


def test_validation_table_highlights_cells_and_lists_reasons(executed: Any) -> None:
    cell = _cell(executed, _cell_index(executed, ".validate(mapping).style()"))
    table = cell.locator(".jp-OutputArea-output table").first
    table.wait_for(state="visible")
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    assert "reasons" in headers, headers
    reasons = " ".join(table.locator("tbody tr").all_inner_texts())
    for code in ("id_missing", "event_type_reserved", "string_too_long", "id_invalid"):
        assert code in reasons, f"{code} not in the reasons column"
    backgrounds = table.locator("tbody td").evaluate_all(
        "tds => tds.map(td => getComputedStyle(td).backgroundColor)"
    )
    highlighted = backgrounds.count(ERROR_BACKGROUND)
    assert highlighted >= _expected()["skipped"], (highlighted, set(backgrounds))
    assert not _misplaced_highlights(table)
    table.screenshot(path=str(_screenshots() / "validation-table.png"))


def test_progress_bar_full_and_success(executed: Any) -> None:
    cell = _cell(executed, _cell_index(executed, "result = df.amplitude.upload("))
    # ipywidgets 8: .widget-hprogress (horizontal); ipywidgets 7: .widget-progress.
    progress = cell.locator(".widget-hprogress, .widget-progress").first
    progress.wait_for(state="visible")
    bar = progress.locator(".progress-bar").first
    # The final update may arrive a moment after the cell finished: wait for it, bounded.
    executed.wait_for_function(
        f"(bar) => bar.classList.contains('{SUCCESS_CLASS}')",
        arg=bar.element_handle(),
        timeout=UI_MS,
    )
    width = bar.evaluate("b => b.style.width || b.style.height")
    assert width == "100%", width
    status = cell.locator(".widget-html").first.inner_text()
    assert f"{_expected()['ingested']:,}" in status, status
    cell.locator(".jp-OutputArea-output").first.screenshot(
        path=str(_screenshots() / "progress-bar.png")
    )


def test_summary_counts(executed: Any) -> None:
    cell = _cell(executed, _summary_index(executed))
    summary = cell.locator(".amp-notebook-result").first
    summary.wait_for(state="visible")
    tiles = summary.evaluate(
        """s => Object.fromEntries(Array.from(s.querySelectorAll(':scope > div > div:first-child'))
               .map(v => [v.nextElementSibling ? v.nextElementSibling.textContent.trim() : '', v.textContent.trim()]))"""
    )
    expected = _expected()
    assert tiles.get("ingested") == f"{expected['ingested']:,}", tiles
    assert tiles.get("skipped") == f"{expected['skipped']:,}", tiles
    assert tiles.get("rejected") == "0" and tiles.get("failed") == "0", tiles
    summary.screenshot(path=str(_screenshots() / "upload-summary.png"))


def _summary_index(page: Any) -> int:
    index = page.evaluate(
        """() => window.jupyterapp.shell.currentWidget.content.widgets
               .findIndex(c => c.model.sharedModel.getSource().trim() === 'result')"""
    )
    assert index >= 0, "no cell that shows `result`"
    return int(index)


def _device_id_dropdown(page: Any, cell: Any) -> Any:
    # By its label: every dropdown lists all the columns, so has_text would match them all.
    return (
        cell.locator(".widget-dropdown")
        .filter(has=page.locator("label.widget-label", has_text=re.compile(r"^device_id$")))
        .first
    )


def test_mapper_dropdown_updates_counts(executed: Any) -> None:
    import amp_notebook  # noqa: F401  (registers the accessor)
    from amp_notebook.demo import DEMO_MAPPING, sample_events

    cell = _cell(executed, _cell_index(executed, "df.amplitude.mapper("))
    dropdown = _device_id_dropdown(executed, cell)
    dropdown.wait_for(state="visible")
    summary = cell.locator(".widget-html", has_text="rows:").first
    before = summary.inner_text()
    expected_before = len(sample_events(300).amplitude.validate(DEMO_MAPPING).error_positions)
    assert f"{expected_before:,} with errors" in before, before
    _shoot_top(executed, cell, "mapper.png")

    # Drop device_id: anonymous events (no user_id) lose their only id and become errors.
    expected_after = len(
        sample_events(300).amplitude.validate({**DEMO_MAPPING, "device_id": None}).error_positions
    )
    assert expected_after != expected_before
    dropdown.locator("select").select_option(label="(none)")
    executed.wait_for_function(
        "([el, text]) => el.innerText.includes(text)",
        arg=[summary.element_handle(), f"{expected_after:,} with errors"],
        timeout=UI_MS,
    )
    assert "id_missing" in summary.inner_text()
    _shoot_top(executed, cell, "mapper-device-id-none.png")


def test_quickstart_runs_clean(browser: Any, lab: Lab) -> None:
    """The repo's quickstart, as a user runs it: Run All, no errors, upload bars full and green."""
    if not (lab.root / QUICKSTART).is_file():
        pytest.skip(f"notebooks/{QUICKSTART} is not in the repo")
    page = _open_notebook(browser, lab, QUICKSTART)
    elapsed = _run_all(page)
    print(f"\nrun all {QUICKSTART}: {elapsed:.1f} s")
    cells = _code_cells(page)
    assert cells and all(isinstance(c["count"], int) for c in cells), cells
    unexpected = [c for c in cells if c["errors"] and "raises-exception" not in c["tags"]]
    assert not unexpected, f"error outputs in untagged cells: {unexpected}"
    bars = page.locator(
        ".jp-Notebook .widget-hprogress .progress-bar, .jp-Notebook .widget-progress .progress-bar"
    )
    bars.first.wait_for(state="visible")
    for i in range(bars.count()):
        bar = bars.nth(i)
        page.wait_for_function(
            f"(bar) => bar.classList.contains('{SUCCESS_CLASS}')",
            arg=bar.element_handle(),
            timeout=UI_MS,
        )
        assert bar.evaluate("b => b.style.width") == "100%"
    summary = page.locator(".jp-Notebook .amp-notebook-result").first
    summary.wait_for(state="visible")
    assert "ingested" in summary.inner_text()
    assert page.locator("text=Error displaying widget").count() == 0
    bars.first.locator(
        "xpath=ancestor::div[contains(@class, 'jp-OutputArea-output')][1]"
    ).screenshot(path=str(_screenshots() / "quickstart-progress.png"))


def test_two_styled_tables_keep_their_own_highlights(executed: Any) -> None:
    mapper_cell = _cell(executed, _cell_index(executed, "df.amplitude.mapper("))
    dropdown = _device_id_dropdown(executed, mapper_cell)
    select = dropdown.locator("select")
    if select.evaluate("s => s.options[s.selectedIndex].text") != "(none)":
        select.select_option(label="(none)")
    # Two different reports on the page: the validation cell's and the mapper's (device_id dropped).
    mapper_table = mapper_cell.locator(".widget-output table", has_text="reasons").first
    mapper_table.wait_for(state="visible")
    # The mapper's report now has the anonymous events too: more rows than the 4 planted errors.
    executed.wait_for_function(
        f"(t) => t.querySelectorAll('tbody tr').length > {_expected()['skipped']}",
        arg=mapper_table.element_handle(),
    )
    validation_cell = _cell(executed, _cell_index(executed, ".validate(mapping).style()"))
    validation_table = validation_cell.locator(".jp-OutputArea-output table").first
    misplaced = _misplaced_highlights(validation_table) + _misplaced_highlights(mapper_table)
    assert not misplaced, f"highlighted cells with no reason in their row: {misplaced}"
