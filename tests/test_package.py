"""The package's public surface and error tree (the layers: tests/test_layers.py)."""

import amp_notebook


def test_public_names_are_pinned():
    assert amp_notebook.__all__ == sorted(amp_notebook.__all__)
    assert set(amp_notebook.__all__) == {
        "AmpNotebookError", "ApiKey", "ConfigurationError", "Const", "ExportError", "InsertIdKey", "InvalidApiKey",
        "LocalError", "key",
        "MappingError", "RemoteError", "RequestRejected", "RetryPolicy", "SecretKey", "UploadInterrupted",
        "UploadResult", "ValidationError", "ValidationReport", "VerifyReport", "__version__", "const", "iso_times",
        "last_result", "load_ipython_extension", "preview", "read_export", "to_events", "unload_ipython_extension", "upload",
        "group_identify", "group_identify_async", "identify", "identify_async",
        "upload_async", "validate",
    }
    for name in amp_notebook.__all__:
        assert hasattr(amp_notebook, name), name


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
