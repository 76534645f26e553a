"""One error tree for amp_notebook.

::

    AmpNotebookError                  every error this package raises
    ├── LocalError                    your data or your configuration: fix it and run again
    │   ├── MappingError              a column mapping that cannot work (names key and column)
    │   ├── ValidationError           rows break Amplitude's rules and on_invalid="raise"
    │   └── ConfigurationError        no API key, a bad region/api/endpoint, http:// off loopback
    ├── RemoteError                   Amplitude (or the network on the way) said no to the request
    │   ├── RequestRejected           a request-level 400 (the whole request is wrong), or a
    │   │                             connection refused on this machine (nothing listens)
    │   │   └── InvalidApiKey         Amplitude does not know the key (the key is never shown)
    │   └── ExportError               the Export API gave no complete export (so nothing is called missing)
    └── UploadInterrupted             you stopped it (the stop button, Ctrl-C, cancellation); also a
                                      KeyboardInterrupt; carries the partial result

``UploadInterrupted`` was a ``RemoteError`` until issue 16: nobody remote said no, so it
is not one. Code that caught the stop with ``except RemoteError`` catches
``UploadInterrupted`` (or ``KeyboardInterrupt``, or ``AmpNotebookError``) now.

Row-level problems are data, not exceptions: they live in a ValidationReport's
``failures`` and an UploadResult's ``rejected`` / ``failed`` frames.

No exception here ever holds a request body or the API key (design.md, principle 6).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Hashable


class AmpNotebookError(Exception):
    """Base class of every error amp_notebook raises."""


class LocalError(AmpNotebookError):
    """The problem is in your data or configuration; nothing was sent because of it."""


class MappingError(LocalError, KeyError):
    """A column mapping that cannot work.

    ``key`` is the Amplitude event key (or ``None``), ``column`` the DataFrame column
    (or ``None``), ``suggestion`` a close match when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        column: Hashable | None = None,
        suggestion: str | None = None,
    ) -> None:
        if suggestion:
            message = f"{message} (did you mean {suggestion!r}?)"
        super().__init__(message)
        self.message = message
        self.key = key
        self.column = column
        self.suggestion = suggestion

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class ValidationError(LocalError, ValueError):
    """Rows break Amplitude's rules and the caller asked to raise (``on_invalid="raise"``).

    ``report`` is the :class:`ValidationReport` with one row per problem.
    """

    def __init__(self, message: str, *, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class ConfigurationError(LocalError, ValueError):
    """A setting that cannot work: missing API key, unknown region, refused endpoint."""


class RemoteError(AmpNotebookError):
    """Amplitude, or the network between us, refused the request as a whole."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class RequestRejected(RemoteError):
    """A request-level 400 (invalid JSON, a missing field), or a connection refused on
    loopback (``status`` None: nothing listens there): retrying cannot help.

    ``error`` is Amplitude's ``error`` text, ``missing_field`` its ``missing_field``.
    ``result`` is the UploadResult of what was done before the stop, when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 400,
        code: int | None = None,
        error: str | None = None,
        missing_field: str | None = None,
        result: Any = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.error = error
        self.missing_field = missing_field
        self.result = result


class InvalidApiKey(RequestRejected):
    """Amplitude answered that the API key is invalid. The key itself is never shown."""


class UploadInterrupted(AmpNotebookError, KeyboardInterrupt):
    """The upload was interrupted (the notebook's stop button, Ctrl-C, cancellation).

    ``result`` says what was acknowledged before the stop; running the same upload
    again sends the same insert_ids, so Amplitude drops what it already has.
    """

    def __init__(self, message: str, *, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


class ExportError(RemoteError):
    """Amplitude's Export API gave no complete export: refused keys, a range it would not
    serve, retries run out, or an answer cut short or damaged.

    ``hours`` names the hours asked for. Nothing was compared: ``verify`` never reports
    rows as missing from an export it could not read whole.
    """

    def __init__(self, message: str, *, status: int | None = None, hours: str | None = None) -> None:
        super().__init__(message, status=status)
        self.hours = hours


__all__ = [
    "AmpNotebookError",
    "ConfigurationError",
    "ExportError",
    "InvalidApiKey",
    "LocalError",
    "MappingError",
    "RemoteError",
    "RequestRejected",
    "UploadInterrupted",
    "ValidationError",
]
