"""The package logger never shows a registered secret."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from amp_notebook._config import REDACTED, ApiKey
from amp_notebook._logging import (
    RedactingFilter,
    forget_secrets,
    get_logger,
    logger,
    redact,
    register_secret,
)

SECRET = "0123456789abcdef0123456789abcdef"  # the shape of an Amplitude key


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    """Register the key as the client would, and capture formatted log output."""
    register_secret(ApiKey(SECRET))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        forget_secrets()


def test_the_package_logger_has_the_filter() -> None:
    assert logger is logging.getLogger("amp_notebook")
    assert any(isinstance(f, RedactingFilter) for f in logger.filters)


def test_the_key_in_the_message(out: io.StringIO) -> None:
    logger.warning(f"sending with key {SECRET}")
    text = out.getvalue()
    assert SECRET not in text
    assert f"sending with key {REDACTED}" in text


def test_the_key_in_args(out: io.StringIO) -> None:
    logger.info("key=%s region=%s events=%d", SECRET, "us", 12)
    text = out.getvalue()
    assert SECRET not in text
    assert f"key={REDACTED} region=us events=12" in text


def test_the_key_inside_a_container_arg(out: io.StringIO) -> None:
    logger.debug("body %r", {"api_key": SECRET, "events": []})
    assert SECRET not in out.getvalue()
    assert REDACTED in out.getvalue()


def test_records_without_secrets_are_untouched(out: io.StringIO) -> None:
    logger.info("%d events in %.1f s", 5, 2.25)
    assert "INFO amp_notebook 5 events in 2.2 s" in out.getvalue()


def test_an_exception_formatted_through_logging(out: io.StringIO) -> None:
    try:
        raise RuntimeError(f"server echoed {SECRET}")
    except RuntimeError:
        logger.exception("upload failed")
    text = out.getvalue()
    assert SECRET not in text
    assert "Traceback" in text
    assert f"RuntimeError: server echoed {REDACTED}" in text


def test_an_exception_seen_by_a_second_formatter(out: io.StringIO) -> None:
    # Another handler with its own formatter must not render the original traceback.
    other = io.StringIO()
    handler = logging.StreamHandler(other)
    handler.setFormatter(logging.Formatter("%(message)s | %(exc_info)s"))
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(SECRET)
        except ValueError:
            logger.error("bad", exc_info=True)
    finally:
        logger.removeHandler(handler)
    assert SECRET not in other.getvalue()
    assert SECRET not in out.getvalue()


def test_a_broken_format_string_does_not_leak(out: io.StringIO) -> None:
    # logging prints msg and args raw when formatting fails (Handler.handleError).
    record = logger.makeRecord(
        logger.name, logging.INFO, __file__, 1, "key %s %s", (SECRET,), None
    )  # one argument short
    assert RedactingFilter().filter(record)
    assert SECRET not in str(record.msg)
    assert SECRET not in repr(record.args)
    assert REDACTED in repr(record.args)


def test_stack_info_is_redacted(out: io.StringIO) -> None:
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "x", (), None)
    record.stack_info = f'Stack:\n  File "x.py", line 1, in f\n    send("{SECRET}")'
    RedactingFilter().filter(record)
    assert SECRET not in record.stack_info


def test_child_loggers_redact_too(out: io.StringIO) -> None:
    child = get_logger("client")
    assert child.name == "amp_notebook.client"
    child.warning("retrying with %s", SECRET)
    assert SECRET not in out.getvalue()
    assert f"amp_notebook.client retrying with {REDACTED}" in out.getvalue()


def test_redact_text() -> None:
    assert redact(f"a {SECRET} b") == f"a {SECRET} b"  # nothing registered yet
    register_secret(SECRET)
    register_secret("short-key")
    register_secret(SECRET + "-long")
    try:
        assert redact(f"a {SECRET} b {SECRET}") == f"a {REDACTED} b {REDACTED}"
        assert redact(f"{SECRET}-long") == REDACTED  # the longer secret wins, no tail left
        assert redact("x short-key y") == f"x {REDACTED} y"
        assert redact("nothing here") == "nothing here"
    finally:
        forget_secrets()
    assert redact(SECRET) == SECRET


def test_register_accepts_a_key_and_keeps_it_hidden() -> None:
    key = ApiKey(SECRET)
    register_secret(key)
    try:
        assert redact(key.reveal()) == REDACTED
    finally:
        forget_secrets([key])
    assert redact(SECRET) == SECRET
