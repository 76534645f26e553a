"""The package's shape: the public surface, and the layering design.md promises."""

import subprocess
import sys
import textwrap

import amp_notebook

CORE = [
    "_exceptions", "_config", "_keys", "_mapping", "_encoding", "_times", "_values",
    "_rules", "_validation", "_batching", "_throttle", "_responses", "_retry",
    "_result", "_report", "_styler", "_summary", "_progress_model",
    "_export_hours", "_export_zip", "_export_frame", "_verify",
    "_wire", "_form", "_identify_mapping", "_identify_validation", "_identify_encoding", "_identify_api",
]


def test_public_names_are_pinned():
    assert amp_notebook.__all__ == sorted(amp_notebook.__all__)
    assert set(amp_notebook.__all__) == {
        "AmpNotebookError", "ApiKey", "ConfigurationError", "Const", "ExportError", "InvalidApiKey", "LocalError",
        "MappingError", "RemoteError", "RequestRejected", "RetryPolicy", "SecretKey", "UploadInterrupted",
        "UploadResult", "ValidationError", "ValidationReport", "VerifyReport", "__version__", "const", "iso_times",
        "last_result", "load_ipython_extension", "preview", "read_export", "to_events", "unload_ipython_extension", "upload",
        "group_identify", "group_identify_async", "identify", "identify_async",
        "upload_async", "validate",
    }
    for name in amp_notebook.__all__:
        assert hasattr(amp_notebook, name), name


def test_core_imports_without_io_or_ui_libraries():
    # The pure core never imports httpx, IPython or ipywidgets: block them and import it.
    code = textwrap.dedent(
        f"""
        import sys
        for name in ("httpx", "IPython", "ipywidgets"):
            sys.modules[name] = None
        import importlib
        for module in {CORE!r}:
            importlib.import_module("amp_notebook." + module)
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_error_tree():
    from amp_notebook import _exceptions as e

    assert issubclass(e.MappingError, e.LocalError) and issubclass(e.ValidationError, e.LocalError)
    assert issubclass(e.ConfigurationError, e.LocalError)
    assert issubclass(e.InvalidApiKey, e.RequestRejected) and issubclass(e.RequestRejected, e.RemoteError)
    assert issubclass(e.UploadInterrupted, KeyboardInterrupt)
    for cls in (e.LocalError, e.RemoteError):
        assert issubclass(cls, e.AmpNotebookError)


def test_importing_registers_the_accessor():
    import pandas as pd

    assert hasattr(pd.DataFrame({"a": [1]}), "amplitude")
