"""amp_notebook: validate and upload pandas DataFrames of events to Amplitude, from Jupyter.

``import amp_notebook`` registers the ``df.amplitude`` accessor::

    report = df.amplitude.validate()        # every row against Amplitude's rules
    report.style()                          # the failing cells, highlighted, with reasons
    result = df.amplitude.upload()          # batched, paced, retried, deduplicated
    result.failed                           # what to resend
    result.verify()                         # did every row land? (the Export API)
    amp_notebook.read_export("20260101T00", "20260101T23")   # what Amplitude has, in upload shape
    df.amplitude.identify(operations={"logins": "add"})   # user properties (Identify API)

In a notebook, ``%load_ext amp_notebook`` adds the ``%amplitude`` magic. With Dask
installed, Dask DataFrames get ``ddf.amplitude`` too (``amp_notebook.dask``). Sample
events to try it on: ``amp_notebook.demo.sample_events()``; a local Amplitude to send
them to: ``amp_notebook.sandbox.Sandbox``.
"""

from typing import Any as _Any

from . import accessor as _accessor  # registers df.amplitude
from ._api import (
    EventPreview,
    last_result,
    preview,
    read_export,
    to_events,
    upload,
    upload_async,
    validate,
)
from ._config import ApiKey, Pacing, SecretKey
from ._dask import hook as _dask_hook
from ._exceptions import (
    AmpNotebookError,
    ConfigurationError,
    ExportError,
    InvalidApiKey,
    LocalError,
    MappingError,
    RemoteError,
    RequestRejected,
    UploadInterrupted,
    ValidationError,
)
from ._identify_api import group_identify, group_identify_async, identify, identify_async
from ._insert_key import InsertIdKey, key
from ._mapping import Const, const
from ._options import IdentifyOptions, UploadOptions
from ._report import ValidationReport
from ._result import UploadResult
from ._retry import RetryPolicy
from ._time_text import iso_times
from ._verify_report import VerifyReport

__version__ = "0.1.0"


def load_ipython_extension(ipython: _Any) -> None:
    """``%load_ext amp_notebook``: the accessor and the ``%amplitude`` magic."""
    from ._jupyter.magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: _Any) -> None:
    from ._jupyter.magics import unload_ipython_extension as _unload

    _unload(ipython)


_dask_hook.install()  # ddf.amplitude, once dask.dataframe is imported (never imports it)
del _accessor, _dask_hook

__all__ = [
    "AmpNotebookError",
    "ApiKey",
    "ConfigurationError",
    "Const",
    "EventPreview",
    "ExportError",
    "IdentifyOptions",
    "InsertIdKey",
    "InvalidApiKey",
    "LocalError",
    "MappingError",
    "Pacing",
    "RemoteError",
    "RequestRejected",
    "RetryPolicy",
    "SecretKey",
    "UploadInterrupted",
    "UploadOptions",
    "UploadResult",
    "ValidationError",
    "ValidationReport",
    "VerifyReport",
    "__version__",
    "const",
    "group_identify",
    "group_identify_async",
    "identify",
    "identify_async",
    "iso_times",
    "key",
    "last_result",
    "load_ipython_extension",
    "preview",
    "read_export",
    "to_events",
    "unload_ipython_extension",
    "upload",
    "upload_async",
    "validate",
]
