"""amp_notebook: validate and upload pandas DataFrames of events to Amplitude, from Jupyter."""

from __future__ import annotations

from ._config import ApiKey
from ._exceptions import (
    AmpNotebookError,
    ConfigurationError,
    InvalidApiKey,
    LocalError,
    MappingError,
    RemoteError,
    RequestRejected,
    UploadInterrupted,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "AmpNotebookError",
    "ApiKey",
    "ConfigurationError",
    "InvalidApiKey",
    "LocalError",
    "MappingError",
    "RemoteError",
    "RequestRejected",
    "UploadInterrupted",
    "ValidationError",
    "__version__",
]
