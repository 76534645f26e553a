"""The package logger, with every registered secret masked out of its records.

The client calls :func:`register_secret` with its :class:`~._config.ApiKey`
before the first request; from then on a record that would show the key (in its
message, its arguments, a formatted traceback or stack) shows ``**********``
instead (design.md, principle 6). Secrets are kept in this process's memory only,
as plain strings: neither ``str`` nor ``ApiKey`` (which has ``__slots__``) can be
weakly referenced, so a ``WeakSet`` is not an option.

A filter on a logger only sees records created on that very logger, not those
propagated up from children, so :func:`get_logger` installs the filter on child
loggers too; use it rather than ``logging.getLogger`` inside the package.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

from ._config import REDACTED, Secret

__all__ = [
    "RedactingFilter",
    "forget_secrets",
    "get_logger",
    "logger",
    "redact",
    "register_secret",
]

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def _rebuild() -> None:
    global _pattern
    # Longest first, so a secret that contains another is masked as a whole.
    ordered = sorted(_secrets, key=len, reverse=True)
    _pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None


def register_secret(secret: Secret | str) -> None:
    """Mask ``secret`` in everything :func:`redact` and :class:`RedactingFilter` see."""
    value = secret.reveal() if isinstance(secret, Secret) else str(secret)
    if not value:
        return
    with _lock:
        if value not in _secrets:
            _secrets.add(value)
            _rebuild()


def forget_secrets(secrets: Iterable[Secret | str] | None = None) -> None:
    """Stop masking ``secrets`` (all of them when ``None``); mostly for tests."""
    with _lock:
        if secrets is None:
            _secrets.clear()
        else:
            for secret in secrets:
                _secrets.discard(secret.reveal() if isinstance(secret, Secret) else str(secret))
        _rebuild()


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``**********``."""
    pattern = _pattern  # one read: a concurrent register_secret swaps it whole
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)


def _contains_secret(text: str) -> bool:
    pattern = _pattern
    return pattern is not None and pattern.search(text) is not None


class RedactingFilter(logging.Filter):
    """Rewrites a record so that no registered secret survives in it.

    The message is formatted here (``record.getMessage()``) and, only when it
    holds a secret, stored back already redacted with ``args`` cleared: masking
    each argument separately would miss secrets inside dicts, exceptions or
    objects whose ``str`` shows them, and would break ``%d``-style arguments.
    A traceback is formatted here too and kept redacted in ``exc_text``, which
    the standard ``Formatter`` uses instead of formatting ``exc_info`` again;
    when that traceback held a secret ``exc_info`` is dropped as well, so that
    no other formatter can render the original.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if _pattern is None:  # nothing registered: the common case costs one check
            return True
        try:
            message = record.getMessage()
        except Exception:
            # A broken format string: logging will print msg and args raw in its
            # error report, so mask them one by one.
            record.msg = redact(str(record.msg))
            if isinstance(record.args, tuple):
                record.args = tuple(
                    redact(str(a)) if _contains_secret(str(a)) else a for a in record.args
                )
            elif record.args is not None:
                record.args = (redact(str(record.args)),)
        else:
            if _contains_secret(message):
                record.msg = redact(message)
                record.args = None
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            if _contains_secret(text):
                record.exc_info = None
            record.exc_text = redact(text)
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_filter = RedactingFilter()


def get_logger(name: str | None = None) -> logging.Logger:
    """``amp_notebook`` or ``amp_notebook.<name>``, with the redacting filter installed."""
    log = logging.getLogger("amp_notebook" if not name else f"amp_notebook.{name}")
    if _filter not in log.filters:
        log.addFilter(_filter)
    return log


logger = get_logger()
# A library never configures output; without this, warnings would reach
# logging's last-resort handler on stderr even though the user set nothing up.
logger.addHandler(logging.NullHandler())
