"""The progress bar of a Jupyter kernel: an ipywidgets bar and status line, updated in place.

``_progress.make_sink`` (the sending layer) asks :func:`widget_sink` for a widget when
``progress="auto"`` runs in a kernel or ``progress="widget"`` is given; the ways in
(``_api``, ``_identify_api``, the Dask driver) hand it down as a value. ipywidgets is
imported only when a widget is wanted; a missing or broken install warns once and the
text view is used instead (design.md, principle 9).
"""

from __future__ import annotations

import html
import importlib
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from .._logging import logger, redact
from .._progress import Clock, Schedule, Sink, _thread_timer, _Throttled, format_status
from .._progress_model import ProgressUpdate

__all__ = ["WidgetSink", "in_kernel", "widget_sink"]



_BOX_CLASS: type[Any] | None = None


def _box_class(widgets: Any) -> type[Any]:
    """A VBox whose text form is fixed: nbval compares the text/plain that the
    notebook saved when the widget was first shown, so it must not hold counts
    or timings (design.md, "Facts")."""
    global _BOX_CLASS
    if _BOX_CLASS is None:

        class UploadProgressBox(widgets.VBox):  # type: ignore[misc]
            def __repr__(self) -> str:
                return str(getattr(self, "_amp_text", "UploadProgress()"))

        _BOX_CLASS = UploadProgressBox
    return _BOX_CLASS


def _ipython_display(obj: object) -> None:
    from IPython.display import display

    display(obj)  # type: ignore[no-untyped-call]


def _final_style(u: ProgressUpdate) -> str:
    if u.phase in ("failed", "interrupted"):
        return "danger"
    if u.rejected or u.failed:
        return "warning"
    return "success"


class WidgetSink(_Throttled):
    """An ``IntProgress`` bar and an ``HTML`` status line, shown once and updated in place.

    ``show`` is called once with the box (:func:`widget_sink` passes IPython's
    ``display``); without it nothing is shown, which tests use.

    ipywidgets 8 sends its comm messages from whatever thread sets a trait, so
    updates from the event-loop thread reach the front end while the cell's
    main thread waits on the upload.
    """

    def __init__(
        self,
        total: int,
        label: str = "",
        *,
        show: Callable[[object], None] | None = None,
        interval: float = 0.1,
        clock: Clock = time.monotonic,
        schedule: Schedule | None = _thread_timer,
        widgets: Any = None,
    ) -> None:
        super().__init__(clock=clock, schedule=schedule)
        w = widgets if widgets is not None else importlib.import_module("ipywidgets")
        self.interval = interval
        self.label = redact(label) or "Amplitude"
        self.bar = w.IntProgress(
            value=0,
            min=0,
            max=max(total, 1),  # a 0..0 bar draws nothing useful; the close fills it
            description=self.label,
            bar_style="",
            style={"description_width": "initial"},
        )
        self.status = w.HTML(value=self._html([f"{total:,} events to send"]))
        self.box = _box_class(w)(children=[self.bar, self.status])
        self.box._amp_text = f"UploadProgress(total={total:,})"
        if show is not None:
            show(self.box)

    @staticmethod
    def _html(parts: list[str]) -> str:
        return " · ".join(html.escape(p) for p in parts)

    def _due(self, u: ProgressUpdate, now: float) -> float:
        return 0.0 if self._last is None else self._last + self.interval - now

    def _render(self, u: ProgressUpdate, *, final: bool) -> None:
        maximum = max(u.total, 1)
        if final and u.phase not in ("failed", "interrupted"):
            value = maximum
        else:
            value = min(max(u.sent, 0), maximum)
        # One comm message per widget instead of one per trait.
        with self.bar.hold_sync():
            if self.bar.max != maximum:
                self.bar.max = maximum  # ipywidgets clamps value to the new max
            self.bar.value = value
            if final:
                self.bar.bar_style = _final_style(u)
        self.status.value = self._html(format_status(u, final=final))


def in_kernel() -> bool:
    """True inside a running Jupyter kernel (tqdm.auto's test).

    IPython is looked up, not imported: if nothing imported it, this is no kernel.
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    if shell is None:
        return False
    try:
        if "IPKernelApp" in shell.config:
            return True
    except Exception:
        pass
    return type(shell).__name__ == "ZMQInteractiveShell"


_warned_no_widgets = False


def _widgets_or_warn() -> Any:
    """The ipywidgets module, or None after a warning (given once per process)."""
    global _warned_no_widgets
    try:
        return importlib.import_module("ipywidgets")
    except Exception as exc:  # ImportError, or a broken install: fall back, never crash
        if not _warned_no_widgets:
            _warned_no_widgets = True
            warnings.warn(
                f"ipywidgets could not be imported ({type(exc).__name__}: {exc}); "
                "showing text progress instead. `pip install ipywidgets` for a progress bar.",
                RuntimeWarning,
                stacklevel=5,
            )
        return None


def widget_sink(total: int, label: str, asked: bool) -> Sink | None:
    """A shown :class:`WidgetSink`, or None for text (not in a kernel and not ``asked``,
    no ipywidgets, or the widget could not be shown)."""
    if not asked and not in_kernel():
        return None
    widgets = _widgets_or_warn()
    if widgets is None:
        return None
    try:
        return WidgetSink(total, label, widgets=widgets, show=_ipython_display)
    except Exception as exc:
        logger.debug("progress widget failed", exc_info=True)
        warnings.warn(
            f"the progress widget could not be shown ({type(exc).__name__}); "
            "showing text progress instead",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
