"""Binder, as Binder does it: a fresh environment, ``binder/requirements.txt``, the notebooks.

repo2docker's Python buildpack, with a ``binder/`` folder, ignores the root config and
runs ``pip install -r binder/requirements.txt`` from the repository root into the
kernel's environment, which already holds Jupyter and ipykernel (design.md, "Facts
learned the hard way"). So: a new venv (no system site-packages: nothing of ours may
leak in), the base packages, the requirements, then every notebook in notebooks/
executed with nbclient on a kernel of that venv, with no API key (Binder has no
secrets). ``jupyter-repo2docker --no-build --debug --no-run .`` checks that the real
tool reads the same configuration; it needs no Docker.

Needs only the package registries. Slow (about a minute with a warm pip cache).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"
NOTEBOOKS = REPO / "notebooks"
# What Binder's kernel environment has before the repository's requirements.
BASE_PACKAGES = ["ipykernel", "nbclient", "nbformat"]


def _bin(venv: Path, name: str) -> Path:
    sub = "Scripts" if os.name == "nt" else "bin"
    return venv / sub / name


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a fresh machine: no key, no leaking of this test's Python setup."""
    drop = {"AMPLITUDE_API_KEY", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("JUPYTER")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env["PIP_PROGRESS_BAR"] = "off"
    env.update(extra or {})
    return env


def _run(cmd: list[str | Path], *, timeout: float, env: dict[str, str] | None = None,
         cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env or _clean_env(), capture_output=True,
        text=True, timeout=timeout,
    )
    assert proc.returncode == 0, (
        f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
    )
    return proc


@pytest.fixture(scope="module")
def binder_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("binder") / "venv"
    # No --system-site-packages: only what the requirements bring may be importable.
    _run([sys.executable, "-m", "venv", venv], timeout=120)
    python = _bin(venv, "python")
    _run([python, "-m", "pip", "install", "-q", *BASE_PACKAGES], timeout=300)
    # Exactly Binder's step, from the repository root (the file holds "-e .").
    _run([python, "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"], timeout=300)
    return venv


def test_binder_files() -> None:
    requirements = (BINDER / "requirements.txt").read_text().split()
    assert "-e" in requirements
    # The repository itself, with the dask extra: notebook 08 starts a LocalCluster.
    assert requirements[requirements.index("-e") + 1] == ".[dask]"
    # Binder's default Python is older than ours: pin one.
    assert re.fullmatch(r"python-3\.1[0-9]", (BINDER / "runtime.txt").read_text().strip())


def test_requirements_install_the_package(binder_venv: Path) -> None:
    python = _bin(binder_venv, "python")
    proc = _run(
        [python, "-c", "import sys, amp_notebook, amp_notebook.sandbox, amp_notebook.cli, amp_notebook.dask; "
         "print(sys.prefix); print(amp_notebook.__file__)"],
        timeout=120,
    )
    prefix, location = proc.stdout.split()
    assert Path(prefix).resolve() == binder_venv.resolve()
    # Editable: the repository's own source, not a copy.
    assert Path(location).resolve().is_relative_to(REPO)
    # The console script works in that environment, with no key and no network.
    demo = _run([_bin(binder_venv, "amp-notebook"), "demo", "--rows", "50", "--no-progress"],
                timeout=120)
    assert "UploadResult" in demo.stdout


def test_notebooks_run_in_the_binder_environment(binder_venv: Path, tmp_path: Path) -> None:
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    if not notebooks:
        pytest.skip("notebooks/ has no .ipynb files yet: nothing for Binder to run")
    python = _bin(binder_venv, "python")
    # A kernelspec named like the notebooks' (python3) that starts *this* venv's Python,
    # first on JUPYTER_PATH so no kernel installed elsewhere on the machine is picked.
    jupyter_path = tmp_path / "jupyter"
    spec_dir = jupyter_path / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (binder test)",
        "language": "python",
    }))
    runner = tmp_path / "run_notebooks.py"
    runner.write_text(textwrap.dedent("""
        import sys
        from pathlib import Path

        import nbformat
        from nbclient import NotebookClient

        for name in sys.argv[1:]:
            path = Path(name)
            nb = nbformat.read(path, as_version=4)
            client = NotebookClient(
                nb, timeout=120, kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
            )
            client.execute()
            print("ran", path.name, flush=True)
    """))
    env = _clean_env({
        "JUPYTER_PATH": str(jupyter_path),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
    })
    proc = _run([python, runner, *notebooks], timeout=180, env=env, cwd=NOTEBOOKS)
    for nb in notebooks:
        assert f"ran {nb.name}" in proc.stdout


def test_repo2docker_reads_the_binder_config(binder_venv: Path) -> None:
    python = _bin(binder_venv, "python")
    _run([python, "-m", "pip", "install", "-q", "jupyter-repo2docker"], timeout=300)
    proc = _run(
        [_bin(binder_venv, "jupyter-repo2docker"), "--no-build", "--debug", "--no-run", "."],
        timeout=120,
    )
    output = proc.stdout + proc.stderr
    # runtime.txt was read, and the requirements come from binder/ (root config ignored).
    runtime = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    assert f"python={runtime}" in output
    pip_step = re.search(r'pip install .*-r "?binder/requirements\.txt', output)
    assert pip_step, output[-3000:]
    # "-e ." needs the source: the pip step must come after the whole repo is copied.
    assert 0 <= output.find("COPY --chown=0:0 src/ ") < pip_step.start()
