"""Progress sinks: views of the :class:`ProgressUpdate` events the upload loop emits.

The loop calls ``sink.update(u)`` many times (possibly from the background
event-loop thread) and ``sink.close(u)`` once with ``u.phase`` "done", "failed"
or "interrupted". :func:`make_sink` picks the view like ``tqdm.auto``: an
ipywidgets bar inside a Jupyter kernel (``_jupyter.progress.widget_sink``, handed
down by the ways in as ``widget=``), a text line elsewhere, nothing when asked (design.md,
principles 8 and 9). The text, quiet and callback views live here; nothing here
imports IPython or ipywidgets.

Sinks never raise into the upload: a progress display must not lose an upload.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import IO, Literal, Protocol

from ._exceptions import ConfigurationError
from ._logging import logger, redact
from ._progress_model import ProgressUpdate, format_duration
from ._words import plural

__all__ = [
    "CallbackSink",
    "NullSink",
    "ProgressOption",
    "QuietSink",
    "Sink",
    "TextSink",
    "format_status",
    "make_sink",
]

ProgressOption = Literal["auto", "widget", "text"] | bool | None | Callable[[ProgressUpdate], None]
Clock = Callable[[], float]


class Cancellable(Protocol):
    def cancel(self) -> None: ...


# (delay seconds, callback) -> handle; injected so that tests never sleep.
Schedule = Callable[[float, Callable[[], None]], Cancellable]


class Sink(Protocol):
    def update(self, u: ProgressUpdate) -> None: ...
    def close(self, u: ProgressUpdate) -> None: ...


# --------------------------------------------------------------------------- text


def _finished_word(u: ProgressUpdate) -> str:
    if u.phase == "failed":
        return "failed"
    if u.phase == "interrupted":
        return "interrupted"
    return "done"


def format_status(u: ProgressUpdate, *, final: bool = False) -> list[str]:
    """The parts of a one-line status, e.g. ``["4,500/10,000 events (45%)", "ingested 4,490", ...]``.

    Counts first, then throttling waits, rate and ETA, retries; zero counts
    are left out. ``final`` gives the closing summary instead of rate and ETA.
    """
    parts = [f"{u.sent:,}/{u.total:,} {u.unit} ({u.fraction:.0%})", f"ingested {u.ingested:,}"]
    if u.rejected or final:
        parts.append(f"rejected {u.rejected:,}")
    if u.failed or final:
        parts.append(f"failed {u.failed:,}")
    if u.skipped:
        parts.append(f"skipped {plural(u.skipped, 'invalid row')}")
    # Why nothing moves comes before the rate, so a narrow terminal still shows it.
    if not final:
        if u.waiting_s > 0:
            why = "throttled devices" if u.paused_partitions else "a retry"
            parts.append(f"waiting {format_duration(u.waiting_s)} for {why}")
        if u.paused_partitions:
            noun = "device" if u.paused_partitions == 1 else "devices"
            parts.append(f"{u.paused_partitions:,} {noun} paused by throttling")
    for note in (u.tightened or (None if final else u.pacing), None if final else u.note):
        if note:
            parts.append(note)
    if final:
        parts.append(f"{_finished_word(u)} in {format_duration(u.elapsed_s)}")
        if u.elapsed_s > 0:
            parts.append(f"{u.events_per_second:,.0f} {u.unit}/s")
    else:
        # Before half a second, one fast answer gives an absurd rate and ETA.
        if u.elapsed_s >= 0.5 and u.sent:
            parts.append(f"{u.events_per_second:,.0f} {u.unit}/s")
            eta = u.eta_s
            if eta is not None:
                parts.append(f"ETA {format_duration(eta)}")
    if u.retries:
        last = f" (last after {u.retrying})" if u.retrying else ""
        parts.append(f"{u.retries:,} {'retry' if u.retries == 1 else 'retries'}{last}")
    if u.throttled and final:
        parts.append(f"throttled {u.throttled:,} times")
    return parts


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:  # closed or odd streams (some notebook/CI wrappers)
        return False


class _Throttled:
    """Shared throttling: render an update only when ``_due`` says so; always render the close.

    With ``schedule``, an update that arrives too early is kept and rendered
    when the interval is over (a trailing edge), so a display does not stay
    stale while the loop waits 30 s for throttled devices without news.
    """

    def __init__(self, *, clock: Clock, schedule: Schedule | None) -> None:
        self._lock = threading.RLock()  # updates may come from the event-loop thread
        self._clock = clock
        self._schedule = schedule
        self._last: float | None = None
        self._pending: ProgressUpdate | None = None
        self._timer: Cancellable | None = None
        self._closed = False
        self.renders = 0  # how many times the view was redrawn (tests, diagnostics)

    # subclasses
    def _due(self, u: ProgressUpdate, now: float) -> float:
        """0 to render now, else the seconds to wait."""
        raise NotImplementedError

    def _render(self, u: ProgressUpdate, *, final: bool) -> None:
        raise NotImplementedError

    def _safe_render(self, u: ProgressUpdate, *, final: bool) -> None:
        self.renders += 1
        try:
            self._render(u, final=final)
        except Exception:
            logger.debug("progress display failed", exc_info=True)

    def update(self, u: ProgressUpdate) -> None:
        with self._lock:
            if self._closed:
                return
            now = self._clock()
            wait = self._due(u, now)
            if wait <= 0:
                self._pending = None
                self._last = now
                self._safe_render(u, final=False)
                return
            self._pending = u
            if self._schedule is not None and self._timer is None:
                try:
                    self._timer = self._schedule(wait, self._flush)
                except Exception:  # e.g. no threads left: lose the trailing edge only
                    self._timer = None

    def _flush(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed or self._pending is None:
                return
            u, self._pending = self._pending, None
            self._last = self._clock()
            self._safe_render(u, final=False)

    def close(self, u: ProgressUpdate) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._pending = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._safe_render(u, final=True)


def _thread_timer(delay: float, callback: Callable[[], None]) -> Cancellable:
    timer = threading.Timer(delay, callback)
    timer.daemon = True  # never keep the interpreter alive for a redraw
    timer.start()
    return timer


class TextSink(_Throttled):
    """A text progress line on ``stream`` (stderr by default).

    In a terminal: one line redrawn in place with ``\\r`` at most ``interval``
    (0.1 s) apart, then a newline at the close. Otherwise (CI logs, files): a
    plain line at most every ``log_interval`` (5 s) or each 1/``log_steps`` (10 %)
    of progress,
    and a closing line.
    """

    BAR_WIDTH = 20

    def __init__(
        self,
        total: int,
        label: str = "",
        *,
        stream: IO[str] | None = None,
        tty: bool | None = None,
        interval: float = 0.1,
        log_interval: float = 5.0,
        log_steps: int = 10,
        columns: int | None = None,
        clock: Clock = time.monotonic,
        schedule: Schedule | None = _thread_timer,
    ) -> None:
        self.columns = columns  # None: the terminal's width at each redraw
        self.stream: IO[str] = stream if stream is not None else sys.stderr
        self.tty = _is_tty(self.stream) if tty is None else tty
        # Periodic log lines need no trailing edge: the next one comes with the next news.
        super().__init__(clock=clock, schedule=schedule if self.tty else None)
        self.total = total
        self.label = redact(label)
        self.interval = interval
        self.log_interval = log_interval
        self.log_steps = log_steps
        self._width = 0  # length of the line on screen, to blank what a shorter one leaves
        self._logged_step = -1

    def _prefix(self) -> str:
        return f"{self.label}: " if self.label else "amp_notebook: "

    def _step(self, u: ProgressUpdate) -> int:
        # Integers: 31/100 must count as the third tenth, which floats may miss.
        if self.log_steps <= 0:
            return 0
        if u.total <= 0:
            return self.log_steps
        return min(u.sent, u.total) * self.log_steps // u.total

    def _due(self, u: ProgressUpdate, now: float) -> float:
        if self._last is None:
            return 0.0
        if self.tty:
            return self._last + self.interval - now
        if self._step(u) > self._logged_step:
            return 0.0
        return self._last + self.log_interval - now

    def _render(self, u: ProgressUpdate, *, final: bool) -> None:
        if self.tty:
            self._draw(u, final=final)
        else:
            self._logged_step = self._step(u)
            self.stream.write(self._prefix() + ", ".join(format_status(u, final=final)) + "\n")
        self.stream.flush()

    def _draw(self, u: ProgressUpdate, *, final: bool) -> None:
        filled = round(u.fraction * self.BAR_WIDTH)
        bar = "#" * filled + "-" * (self.BAR_WIDTH - filled)
        line = f"{self._prefix()}[{bar}] " + " · ".join(format_status(u, final=final))
        # A line wider than the terminal wraps, and \r then redraws only its last row.
        columns = self.columns or shutil.get_terminal_size((120, 24)).columns - 1
        if columns > 20 and len(line) > columns:
            line = line[: columns - 1] + "…"
        pad = " " * max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + pad + ("\n" if final else ""))


class NullSink:
    """Shows nothing."""

    def update(self, u: ProgressUpdate) -> None:
        pass

    def close(self, u: ProgressUpdate) -> None:
        pass


class QuietSink:
    """``progress=False``: no bar, but one line on stderr for each new cause of retries.

    Retrying is waiting, sometimes for minutes: silence would look like a hang
    (issue 17). Each cause ("503", "ConnectError") is said once per upload.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self._said: set[str] = set()

    def update(self, u: ProgressUpdate) -> None:
        if not u.retrying or u.retrying in self._said:
            return
        self._said.add(u.retrying)
        stream = self._stream or sys.stderr
        with contextlib.suppress(Exception):  # a closed stream must not lose the upload
            print(f"amp_notebook: retrying after {u.retrying} ({plural(u.retries, 'retry', 'retries')} "
                  "so far; safe: insert_ids deduplicate)", file=stream, flush=True)

    def close(self, u: ProgressUpdate) -> None:
        pass


class CallbackSink:
    """Calls ``callback(u)`` for every update and for the close.

    An exception from the callback is reported once as a warning and the
    callback is not called again: a progress hook must not lose an upload.
    """

    def __init__(self, callback: Callable[[ProgressUpdate], None]) -> None:
        self.callback = callback
        self._broken = False

    def _call(self, u: ProgressUpdate) -> None:
        if self._broken:
            return
        try:
            self.callback(u)
        except Exception as exc:
            self._broken = True
            logger.warning("progress callback raised; it will not be called again", exc_info=True)
            warnings.warn(
                f"progress callback raised {type(exc).__name__}: {redact(str(exc))}; "
                "it will not be called again",
                RuntimeWarning,
                stacklevel=3,
            )

    def update(self, u: ProgressUpdate) -> None:
        self._call(u)

    def close(self, u: ProgressUpdate) -> None:
        self._call(u)


# ------------------------------------------------------------------------ choose


# (total, label, asked) -> a widget view, or None for text. ``asked``: progress="widget"
# (else "auto": a widget only inside a kernel). The ways in (the front layer) hand
# ``_jupyter.progress.widget_sink`` down as a value, so this module (the sending
# layer's) never imports the notebook code; without one, progress is text.
WidgetView = Callable[[int, str, bool], "Sink | None"]


def make_sink(progress: ProgressOption = "auto", *, total: int, label: str = "",
              widget: WidgetView | None = None) -> Sink:
    """The sink for ``progress=``: "auto"/True, "widget", "text", False/None, or a callable;
    ``widget`` makes the kernel's bar for "auto" and "widget" (None: text)."""
    if progress is None or progress is False:
        return QuietSink()
    if callable(progress):
        return CallbackSink(progress)
    if progress is True:
        progress = "auto"
    if progress == "text":
        return TextSink(total, label)
    if progress in ("auto", "widget"):
        shown = widget(total, label, progress == "widget") if widget is not None else None
        return shown if shown is not None else TextSink(total, label)
    raise ConfigurationError(
        f"progress must be 'auto', 'widget', 'text', True, False or a callable, not {progress!r}"
    )
