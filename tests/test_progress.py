"""Progress sinks: choice and fallback, the text line, the widget's state, threads."""

from __future__ import annotations

import io
import sys
import threading
import types
import warnings
from collections.abc import Callable

import pytest

from amp_notebook import ConfigurationError
from amp_notebook._jupyter import progress as widget_progress
from amp_notebook._jupyter.progress import WidgetSink, in_kernel
from amp_notebook._logging import forget_secrets, register_secret
from amp_notebook._progress import CallbackSink, QuietSink, Sink, TextSink
from amp_notebook._progress import make_sink as sending_layer_sink
from amp_notebook._progress_model import ProgressUpdate


def make_sink(progress: object, *, total: int, label: str = "") -> Sink:
    """The sink the ways in get: they hand the kernel's widget view down (``widget=``)."""
    return sending_layer_sink(progress, total=total, label=label,  # type: ignore[arg-type]
                              widget=widget_progress.widget_sink)


def P(sent: int = 0, total: int = 1000, **kw: object) -> ProgressUpdate:
    kw.setdefault("ingested", sent)
    return ProgressUpdate(total=total, sent=sent, **kw)  # type: ignore[arg-type]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeTimer:
    def __init__(self, delay: float, callback: Callable[[], None]) -> None:
        self.delay, self.callback, self.cancelled = delay, callback, False

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        if not self.cancelled:
            self.callback()


class FakeSchedule:
    def __init__(self) -> None:
        self.timers: list[FakeTimer] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(delay, callback)
        self.timers.append(timer)
        return timer


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def fake_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend to run inside a Jupyter kernel (what tqdm.auto checks)."""
    ipython = pytest.importorskip("IPython")

    class Shell:  # the config is what counts, not the class
        def __init__(self) -> None:
            self.config = {"IPKernelApp": {"connection_file": "x.json"}}

    shell = Shell()
    monkeypatch.setattr(ipython, "get_ipython", lambda: shell)
    monkeypatch.setitem(sys.modules, "IPython", ipython)


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Collect what make_sink's widget displays instead of calling IPython."""
    seen: list[object] = []
    monkeypatch.setattr(widget_progress, "_ipython_display", seen.append)
    return seen


@pytest.fixture
def no_widgets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import raises ImportError
    monkeypatch.setattr(widget_progress, "_warned_no_widgets", False)


# ----------------------------------------------------------------- choosing


def test_false_and_none_give_a_silent_sink(capsys: pytest.CaptureFixture[str]) -> None:
    # Silent unless a retry happens (test_refused_and_retries.py).
    for option in (False, None):
        sink = make_sink(option, total=10)
        assert isinstance(sink, QuietSink)
        sink.update(P(5, 10))
        sink.close(P(10, 10, phase="done"))
    assert capsys.readouterr() == ("", "")


def test_unknown_option_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="progress"):
        make_sink("bars", total=10)  # type: ignore[arg-type]


def test_auto_outside_a_kernel_is_text_and_does_not_touch_ipywidgets(
    no_widgets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not in_kernel()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "ipywidgets missing" warning: it was never needed
        auto = make_sink("auto", total=10)
        true = make_sink(True, total=10)
    assert isinstance(auto, TextSink)
    assert isinstance(true, TextSink)
    assert auto.stream is sys.stderr


def test_in_kernel_recognises_the_kernel(fake_kernel: None) -> None:
    assert in_kernel()


def test_in_kernel_by_shell_class_name(monkeypatch: pytest.MonkeyPatch) -> None:
    class ZMQInteractiveShell:
        def __init__(self) -> None:
            self.config: dict[str, object] = {}

    fake = types.ModuleType("IPython")
    fake.get_ipython = ZMQInteractiveShell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert in_kernel()


def test_terminal_ipython_is_not_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    class TerminalInteractiveShell:
        def __init__(self) -> None:
            self.config: dict[str, object] = {"TerminalIPythonApp": {}}

    fake = types.ModuleType("IPython")
    fake.get_ipython = TerminalInteractiveShell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert not in_kernel()
    assert isinstance(make_sink("auto", total=1), TextSink)


def test_auto_in_a_kernel_shows_a_widget_once(fake_kernel: None, shown: list[object]) -> None:
    sink = make_sink("auto", total=50, label="upload")
    assert isinstance(sink, WidgetSink)
    assert shown == [sink.box]
    sink.update(P(10, 50))
    sink.close(P(50, 50, phase="done"))
    assert shown == [sink.box]  # updated in place, never shown again


def test_auto_in_a_kernel_without_ipywidgets_warns_once_and_uses_text(
    fake_kernel: None, no_widgets: None
) -> None:
    with pytest.warns(RuntimeWarning, match="ipywidgets"):
        sink = make_sink("auto", total=10)
    assert isinstance(sink, TextSink)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(make_sink("auto", total=10), TextSink)


def test_widget_asked_without_ipywidgets_warns_and_uses_text(no_widgets: None) -> None:
    with pytest.warns(RuntimeWarning, match="ipywidgets"):
        sink = make_sink("widget", total=10)
    assert isinstance(sink, TextSink)


def test_the_widget_is_handed_down_by_the_ways_in(fake_kernel: None, shown: list[object]) -> None:
    # The sending layer never imports the notebook layer: without a widget view it shows
    # text; the ways in (df.amplitude.upload, identify, ...) hand _jupyter's view down.
    import pandas as pd

    from amp_notebook.sandbox import HTTP_PATH, Sandbox

    assert isinstance(sending_layer_sink("widget", total=10), TextSink) and shown == []
    df = pd.DataFrame({"user_id": ["user-00001", "user-00002"], "event_type": ["A", "B"]})
    sb = Sandbox()  # not started: its in-process transport answers
    result = df.amplitude.upload(api_key="widget-key-0001", endpoint="http://127.0.0.1:9" + HTTP_PATH,
                                 transport=sb.transport(sleep=False), progress="auto")
    assert result.ingested_count == 2
    assert len(shown) == 1 and "Box" in type(shown[0]).__name__
    df.amplitude.identify(api_key="widget-key-0001", endpoint="http://127.0.0.1:9/identify",
                          transport=sb.transport(sleep=False), progress="widget")
    assert len(shown) == 2


def test_text_is_text_even_in_a_kernel(fake_kernel: None, shown: list[object]) -> None:
    assert isinstance(make_sink("text", total=10), TextSink)
    assert shown == []


def test_a_callable_gets_every_update_and_the_close() -> None:
    seen: list[ProgressUpdate] = []
    sink = make_sink(seen.append, total=3)
    assert isinstance(sink, CallbackSink)
    updates = [P(1, 3), P(2, 3), P(3, 3)]
    for u in updates:
        sink.update(u)
    final = P(3, 3, phase="done")
    sink.close(final)
    assert seen == [*updates, final]  # not throttled: the caller decides


def test_a_failing_callable_warns_once_and_never_breaks_the_upload() -> None:
    calls: list[ProgressUpdate] = []

    def hook(u: ProgressUpdate) -> None:
        calls.append(u)
        raise ValueError("boom")

    sink = make_sink(hook, total=3)
    with pytest.warns(RuntimeWarning, match="boom"):
        sink.update(P(1, 3))
    sink.update(P(2, 3))
    sink.close(P(3, 3, phase="done"))
    assert len(calls) == 1


# -------------------------------------------------------------- text sink


def test_text_in_a_terminal_redraws_one_line_throttled() -> None:
    clock, stream = FakeClock(), TTY()
    sink = TextSink(1000, "upload", stream=stream, clock=clock, schedule=FakeSchedule())
    assert sink.tty
    # 1,000 updates over one second: at most ~10 redraws, not 1,000.
    for i in range(1000):
        clock.now = i / 1000
        sink.update(P(i, 1000, elapsed_s=clock.now))
    out = stream.getvalue()
    assert "\n" not in out  # one line, redrawn in place
    assert 5 <= out.count("\r") <= 11
    assert out.startswith("\rupload: ")
    clock.now = 1.0
    sink.close(P(1000, 1000, elapsed_s=1.0, phase="done"))
    out = stream.getvalue()
    assert out.endswith("\n")
    assert out.count("\n") == 1
    last = out.rsplit("\r", 1)[1]
    assert "1,000/1,000 events" in last
    assert "done" in last


def test_text_in_a_terminal_blanks_the_rest_of_a_longer_line() -> None:
    clock, stream = FakeClock(), TTY()
    sink = TextSink(100, stream=stream, clock=clock, schedule=None, columns=300)
    sink.update(P(5, 100, retries=3, paused_partitions=12, waiting_s=30.0, phase="waiting"))
    clock.now = 1.0
    sink.update(P(6, 100))
    first, second = stream.getvalue().split("\r")[1:]
    assert "waiting 30 s for throttled devices" in first
    assert "12 devices paused" in first
    assert len(second) >= len(first)  # padded: no leftovers of the longer line


def test_a_throttled_update_is_drawn_later_not_lost() -> None:
    clock, stream, schedule = FakeClock(), TTY(), FakeSchedule()
    sink = TextSink(100, stream=stream, clock=clock, schedule=schedule, columns=300)
    sink.update(P(1, 100))
    clock.now = 0.02
    sink.update(P(2, 100))
    clock.now = 0.03
    sink.update(P(3, 100, paused_partitions=1, waiting_s=30.0, phase="waiting"))
    assert stream.getvalue().count("\r") == 1
    assert len(schedule.timers) == 1  # one pending redraw, not one per update
    assert schedule.timers[0].delay == pytest.approx(0.08)
    clock.now = 0.1
    schedule.timers[0].fire()
    last = stream.getvalue().rsplit("\r", 1)[1]
    assert "3/100 events" in last
    assert "waiting 30 s for throttled devices" in last


def test_close_cancels_a_pending_redraw() -> None:
    clock, stream, schedule = FakeClock(), TTY(), FakeSchedule()
    sink = TextSink(100, stream=stream, clock=clock, schedule=schedule)
    sink.update(P(1, 100))
    clock.now = 0.01
    sink.update(P(2, 100))
    sink.close(P(100, 100, phase="done"))
    assert schedule.timers[0].cancelled
    schedule.timers[0].callback()  # a timer that fires anyway draws nothing more
    assert stream.getvalue().endswith("\n")
    sink.update(P(3, 100))  # after the close: ignored
    assert stream.getvalue().endswith("\n")


def test_text_in_a_log_writes_a_line_per_tenth() -> None:
    clock, stream = FakeClock(), io.StringIO()
    sink = TextSink(1000, stream=stream, clock=clock)
    assert not sink.tty
    for i in range(1001):  # fast: 1,000 updates in 1 s
        clock.now = i / 1000
        sink.update(P(i, 1000, elapsed_s=clock.now))
    sink.close(P(1000, 1000, elapsed_s=1.0, phase="done"))
    out = stream.getvalue()
    assert "\r" not in out
    lines = out.splitlines()
    assert 10 <= len(lines) <= 13  # start, each 10 %, final
    assert "31/1000" not in out
    assert any("300/1,000 events (30%)" in line for line in lines)
    assert "done" in lines[-1]
    assert "rejected 0" in lines[-1]


def test_text_in_a_log_writes_every_five_seconds_when_slow() -> None:
    clock, stream = FakeClock(), io.StringIO()
    sink = TextSink(1000, stream=stream, clock=clock)
    for i in range(600):  # a minute of updates, 10 a second, stuck at 5 events
        clock.now = i / 10
        sink.update(P(5, 1000, elapsed_s=clock.now, paused_partitions=2, waiting_s=30.0))
    lines = stream.getvalue().splitlines()
    assert 11 <= len(lines) <= 13  # one per ~5 s
    assert "waiting 30 s for throttled devices" in lines[-1]
    sink.close(P(5, 1000, failed=995, phase="failed", elapsed_s=60.0))
    last = stream.getvalue().splitlines()[-1]
    assert "failed 995" in last
    assert "failed in 1 min 00 s" in last


def test_text_sink_masks_a_secret_in_its_label() -> None:
    register_secret("k3y-abcdef-0123")
    try:
        stream = io.StringIO()
        sink = TextSink(10, "to k3y-abcdef-0123", stream=stream)
        sink.update(P(1, 10))
        sink.close(P(10, 10, phase="done"))
        assert "k3y-abcdef-0123" not in stream.getvalue()
        assert "**********" in stream.getvalue()
    finally:
        forget_secrets(["k3y-abcdef-0123"])


# ------------------------------------------------------------ widget sink


def widget(total: int = 100, **kw: object) -> WidgetSink:
    kw.setdefault("schedule", None)
    return WidgetSink(total, "upload", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("final", "style", "full"),
    [
        (P(100, 100, phase="done"), "success", True),
        (P(100, 100, ingested=97, rejected=3, phase="done"), "warning", True),
        (P(100, 100, ingested=90, failed=10, phase="done"), "warning", True),
        (P(40, 100, phase="failed"), "danger", False),
        (P(40, 100, phase="interrupted"), "danger", False),
    ],
)
def test_widget_state_after_close(final: ProgressUpdate, style: str, full: bool) -> None:
    sink = widget(100)
    assert sink.bar.max == 100
    sink.update(P(40, 100, elapsed_s=2.0))
    sink.close(final)
    assert sink.bar.bar_style == style
    assert sink.bar.value == (sink.bar.max if full else 40)
    assert f"ingested {final.ingested}" in sink.status.value


def test_widget_is_shown_once_with_a_text_form_free_of_timings() -> None:
    shown: list[object] = []
    clock = FakeClock()
    sink = widget(1234, show=shown.append, clock=clock)
    assert shown == [sink.box]
    bundle = sink.box._repr_mimebundle_()
    text = bundle["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert text == "UploadProgress(total=1,234)"
    clock.now = 3.0
    sink.update(P(600, 1234, elapsed_s=3.0, retries=2))
    sink.close(P(1234, 1234, elapsed_s=7.5, phase="done"))
    assert repr(sink.box) == text  # what nbval compares does not move
    assert "events/s" in sink.status.value  # timings live in the status line only
    assert list(sink.box.children) == [sink.bar, sink.status]


def test_widget_status_escapes_html_and_shows_throttling() -> None:
    sink = WidgetSink(10, "<b>x</b>", schedule=None)
    assert sink.bar.description == "<b>x</b>"  # a description is text, not HTML
    sink.update(P(2, 10, paused_partitions=3, waiting_s=30.0, phase="waiting"))
    assert "waiting 30 s for throttled devices" in sink.status.value
    assert "3 devices paused by throttling" in sink.status.value


def test_widget_updates_are_throttled_and_the_close_always_lands() -> None:
    clock = FakeClock()
    sink = widget(1000, clock=clock)
    for i in range(1, 501):  # 500 updates in 50 ms
        clock.now = i / 10_000
        sink.update(P(i, 1000))
    assert sink.renders == 1
    assert sink.bar.value == 1
    clock.now = 0.06
    sink.close(P(1000, 1000, phase="done"))
    assert sink.bar.value == 1000
    assert sink.bar.bar_style == "success"


def test_widget_with_no_events() -> None:
    sink = widget(0)
    sink.close(P(0, 0, phase="done"))
    assert sink.bar.value == sink.bar.max
    assert sink.bar.bar_style == "success"


# ---------------------------------------------------------------- threads


@pytest.mark.parametrize("kind", ["widget", "text"])
def test_updates_from_another_thread(kind: str) -> None:
    if kind == "widget":
        sink: WidgetSink | TextSink = WidgetSink(2000, "upload")
    else:
        sink = TextSink(2000, "upload", stream=TTY())
    errors: list[BaseException] = []

    def loop() -> None:  # the background event-loop thread of a sync upload
        try:
            for i in range(1, 2001):
                sink.update(P(i, 2000, elapsed_s=i / 1000))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=loop) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    sink.close(P(2000, 2000, elapsed_s=2.0, phase="done"))
    assert errors == []
    assert 1 <= sink.renders <= 20  # throttled across threads
    if isinstance(sink, WidgetSink):
        assert sink.bar.value == sink.bar.max == 2000
        assert sink.bar.bar_style == "success"
    else:
        assert isinstance(sink.stream, TTY)
        out = sink.stream.getvalue()
        assert out.endswith("\n")
        assert "2,000/2,000 events" in out.rsplit("\r", 1)[1]
