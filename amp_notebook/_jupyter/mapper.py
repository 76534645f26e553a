"""``df.amplitude.mapper()``: pick columns for event keys in a widget, see the problems live.

One Dropdown per top-level event key ("(none)" or a column; pre-filled by the
automatic mapping; a ``const(...)`` or the insert_id's ``key(...)`` given in
``mapping=`` is a choice of its own), a SelectMultiple each for ``event_properties`` and
``user_properties``. Every change re-validates (``_api.validate``) and shows the
rows with errors / warnings per reason and the highlighted failing rows; the
mapping is always available as ``.mapping`` and as code to paste
(``mapping = {...}``), so the notebook can be re-run without the widget.
"Dry run" and "Upload" send to the session's configuration (``%amplitude``).

Works without a frontend or kernel (ipywidgets models exist without one): the
outputs are written to ``Output.outputs`` directly rather than with
``with output: display(...)``, which needs a kernel. Widget state never holds
the API key: the key is only read, from the session, inside the upload call.
"""

from __future__ import annotations

import html
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import _session
from .._config import ApiKey
from .._exceptions import AmpNotebookError, MappingError
from .._insert_key import InsertIdKey
from .._keys import EVENT_KEYS
from .._logging import redact
from .._mapping import Const, ResolvedMapping, resolve_mapping
from .._words import plural

if TYPE_CHECKING:  # pragma: no cover
    from .._report import ValidationReport
    from .._result import UploadResult

__all__ = ["UNMAPPED", "MapperUI", "mapper"]


class _Unmapped:
    """The "(none)" choice of a dropdown (None cannot be a Dropdown value: it means "no selection")."""

    _instance: _Unmapped | None = None

    def __new__(cls) -> _Unmapped:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(none)"


UNMAPPED = _Unmapped()

# Keys edited with a SelectMultiple of columns (each column one property).
PROPERTY_KEYS: tuple[str, ...] = ("event_properties", "user_properties")
# Shown first; the other top-level keys go into a collapsed "More event keys" section.
MAIN_KEYS: tuple[str, ...] = ("user_id", "device_id", "event_type", "time", "insert_id", "session_id")
DROPDOWN_KEYS: tuple[str, ...] = tuple(k for k in EVENT_KEYS if k not in PROPERTY_KEYS)
# What validation accepts; everything else in **options only goes to the upload.
_VALIDATE_OPTIONS = ("min_id_length", "tz", "time_unit", "now_ms")
_SESSION_OPTIONS = ("api_key", "region", "api", "endpoint")
PREVIEW_ROWS = 20


def _label(value: object) -> str:
    """How a column label or constant is shown and written as code."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _prop_name(key: str, column: Hashable) -> str:
    """A property named like its column; ``event_properties.plan`` -> ``plan``."""
    text = str(column)
    prefix = f"{key}."
    return text[len(prefix) :] if text.startswith(prefix) and len(text) > len(prefix) else text


def _auto_fallback(frame: pd.DataFrame) -> ResolvedMapping:
    """The automatic matches one column at a time, first match wins.

    Used when the frame's automatic mapping is ambiguous (two columns match one
    key): the widget still opens, pre-filled, and the user picks.
    """
    fields = []
    taken: set[tuple[str, str | None]] = set()
    for i in range(frame.shape[1]):
        try:
            single = resolve_mapping(frame.iloc[:, [i]])
        except MappingError:
            continue
        for field in single.fields:
            if (field.key, field.name) not in taken:
                taken.add((field.key, field.name))
                fields.append(field)
    order = {key: i for i, key in enumerate(EVENT_KEYS)}
    return ResolvedMapping(tuple(sorted(fields, key=lambda f: (order[f.key], f.name is not None))))


def _format_code(mapping: Mapping[str, object]) -> str:
    """``mapping = {...}``, one key per line, ready to paste."""
    def value_code(value: object) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k!r}: {value_code(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(value_code(v) for v in value) + "]"
        return _label(value)

    def has(kind: type, value: object) -> bool:
        if isinstance(value, dict):
            return any(has(kind, v) for v in value.values())
        return isinstance(value, kind)

    lines = []
    imports = [name for name, kind in (("const", Const), ("key", InsertIdKey))
               if any(has(kind, v) for v in mapping.values())]
    if imports:
        lines.append(f"from amp_notebook import {', '.join(imports)}\n")
    if not mapping:
        lines.append("mapping = {}")
    else:
        lines.append("mapping = {")
        lines += [f"    {key!r}: {value_code(value)}," for key, value in mapping.items()]
        lines.append("}")
    return "\n".join(lines)


def _display_data(html_text: str, plain: str) -> dict[str, Any]:
    return {"output_type": "display_data", "data": {"text/plain": plain, "text/html": html_text}, "metadata": {}}


class MapperUI:
    """The mapping widget: ``.widget`` to show, ``.mapping`` (dict), ``.report`` (latest ValidationReport).

    ``.dropdowns[key]`` (values: a column label or :data:`UNMAPPED`), ``.selects[key]``
    (``event_properties`` / ``user_properties``: tuples of column labels) and
    ``.buttons["validate" | "dry_run" | "upload"]`` are the ipywidgets, for tests
    and for scripting. ``.result`` is the last dry run's or upload's UploadResult.
    """

    def __init__(self, df: pd.DataFrame, mapping: Mapping[str, object] | None = None, **options: Any) -> None:
        import ipywidgets as w

        self.frame = df
        live = options.pop("live", True)
        # A key passed here is used for uploads only; wrap it at once so that no repr shows it.
        if options.get("api_key") is not None:
            options["api_key"] = ApiKey(options["api_key"])
        self._options = options
        self.report: ValidationReport | None = None
        self.result: UploadResult | None = None
        self.error: str | None = None

        columns = df.columns
        self._columns = list(columns)
        # The automatic mapping of these columns alone: what an explicit entry must override.
        try:
            self._auto = resolve_mapping(df)
        except MappingError:
            self._auto = _auto_fallback(df)
        initial_error: str | None = None
        try:
            initial = resolve_mapping(df, mapping) if mapping else self._auto
        except MappingError as exc:
            initial, initial_error = self._auto, str(exc)

        # Sources the widget does not edit, kept as they are (shown under the selectors):
        # whole-object property columns, property constants, plan/groups fields by name.
        self._whole: dict[str, Hashable | Const] = {}
        self._kept: dict[str, dict[str, Hashable | Const]] = {k: {} for k in PROPERTY_KEYS}
        self._kept_dotted: dict[str, Hashable | Const] = {}
        for field in initial.fields:
            if field.key in PROPERTY_KEYS:
                if field.name is None:
                    self._whole[field.key] = field.source
                elif isinstance(field.source, Const):
                    self._kept[field.key][field.name] = field.source
            elif field.name is not None:  # groups.<type>, plan.<field>
                self._kept_dotted[field.path] = field.source

        column_options = [(str(c), c) for c in self._columns]
        self.dropdowns: dict[str, Any] = {}
        for key in DROPDOWN_KEYS:
            top = initial.get(key)
            options_list: list[tuple[str, object]] = [("(none)", UNMAPPED), *column_options]
            value: object = UNMAPPED
            if top is not None:
                value = top.source
            elif key == "insert_id" and initial.insert_id_key is not None:
                value = initial.insert_id_key  # key(...): made from columns, not one column
            if isinstance(value, (Const, InsertIdKey)):  # a choice of its own, kept when another is made
                options_list.append((_label(value), value))
            self.dropdowns[key] = w.Dropdown(
                options=options_list,
                value=value,
                description=key,
                style={"description_width": "11em"},
                layout=w.Layout(width="28em"),
            )

        self.selects: dict[str, Any] = {}
        for key in PROPERTY_KEYS:
            chosen = tuple(
                f.source for f in initial.nested(key) if not isinstance(f.source, Const) and f.source in self._columns
            )
            self.selects[key] = w.SelectMultiple(
                options=column_options,
                value=chosen,
                description=key,
                rows=min(8, max(3, len(column_options))),
                style={"description_width": "9em"},
                layout=w.Layout(width="28em"),
            )

        self.live = w.Checkbox(value=bool(live), description="validate on every change", indent=False)
        self.buttons: dict[str, Any] = {
            "validate": w.Button(description="Validate", icon="check"),
            "dry_run": w.Button(description="Dry run", icon="eye"),
            "upload": w.Button(description="Upload", icon="upload", button_style="primary"),
        }
        self.kept = w.HTML()
        self.summary = w.HTML()
        self.preview = w.Output()
        self.code = w.Textarea(
            description="mapping",
            disabled=False,
            layout=w.Layout(width="100%", height="12em"),
            style={"description_width": "5em"},
        )
        self.output = w.Output()
        self.status = w.HTML()

        main = [self.dropdowns[k] for k in MAIN_KEYS]
        more = [self.dropdowns[k] for k in DROPDOWN_KEYS if k not in MAIN_KEYS]
        accordion = w.Accordion(children=[w.GridBox(more, layout=w.Layout(grid_template_columns="repeat(2, 30em)"))])
        accordion.set_title(0, "More event keys")
        accordion.selected_index = None
        self.widget = w.VBox(
            [
                w.HTML(f"<b>Map the columns of this frame ({len(df):,} rows) to Amplitude event keys</b>"),
                w.GridBox(main, layout=w.Layout(grid_template_columns="repeat(2, 30em)")),
                accordion,
                w.HBox([self.selects[k] for k in PROPERTY_KEYS]),
                self.kept,
                w.HBox([self.buttons["validate"], self.buttons["dry_run"], self.buttons["upload"], self.live]),
                self.status,
                self.summary,
                self.preview,
                self.code,
                self.output,
            ]
        )

        for dropdown in self.dropdowns.values():
            dropdown.observe(self._on_change, names="value")
        for select in self.selects.values():
            select.observe(self._on_change, names="value")
        self.buttons["validate"].on_click(lambda _b: self.validate())
        self.buttons["dry_run"].on_click(lambda _b: self.dry_run())
        self.buttons["upload"].on_click(lambda _b: self.upload())

        self._show_kept()
        self._refresh(validate=True)
        if initial_error is not None:
            self.status.value = f"<span style='color:#b00'>{html.escape(initial_error)}</span> (showing the automatic mapping)"

    # -- the mapping ---------------------------------------------------------------------

    @property
    def mapping(self) -> dict[str, object]:
        """The chosen mapping, complete: ``df.amplitude.upload(mapping=ui.mapping)`` sends what the widget shows.

        A key the automatic mapping would fill but the widget leaves empty is written
        as ``None`` (dropped), so the dict gives the same result on its own.
        """
        out: dict[str, object] = {}
        for key in DROPDOWN_KEYS:
            value = self.dropdowns[key].value
            if value is not UNMAPPED:
                out[key] = value
            elif self._auto.get(key) is not None:
                out[key] = None
        for key in PROPERTY_KEYS:
            self._property_entries(key, out)
        out.update(self._kept_dotted)
        return out

    def _property_entries(self, key: str, out: dict[str, object]) -> None:
        selected: tuple[Hashable, ...] = self.selects[key].value
        entries: dict[str, object] = {_prop_name(key, c): c for c in selected}
        entries.update(self._kept[key])
        # Automatic properties left unselected must be dropped by name, or they come back.
        for field in self._auto.nested(key):
            if field.name is not None and field.name not in entries and not isinstance(field.source, Const):
                entries[field.name] = None
        whole = self._whole.get(key)
        auto_whole = self._auto.get(key) is not None
        simple = all(not isinstance(v, Const) and v is not None and str(v) == n for n, v in entries.items())
        if whole is None and not auto_whole:
            if not entries:
                return
            if all(v is None for v in entries.values()):
                out[key] = None
            elif simple:
                out[key] = list(entries.values())
            else:
                out[key] = entries
            return
        # A whole-object source (kept, or automatic and dropped): named properties as dotted keys.
        out[key] = whole
        for name, value in entries.items():
            out[f"{key}.{name}"] = value

    @property
    def code_text(self) -> str:
        return _format_code(self.mapping)

    # -- reacting --------------------------------------------------------------------------

    def _on_change(self, _change: Any) -> None:
        self._refresh(validate=bool(self.live.value))

    def _show_kept(self) -> None:
        items = [f"{k} = {_label(v)}" for k, v in self._whole.items()]
        items += [f"{k}.{n} = {_label(v)}" for k, d in self._kept.items() for n, v in d.items()]
        items += [f"{k} = {_label(v)}" for k, v in self._kept_dotted.items()]
        self.kept.value = (
            "<small>Also kept from the mapping (edit them in the code below): "
            + html.escape(", ".join(items))
            + "</small>"
            if items
            else ""
        )

    def _refresh(self, *, validate: bool) -> None:
        self.code.value = self.code_text
        if validate:
            self.validate()
        else:
            self.summary.value = "<i>changed: press Validate</i>"

    def validate(self) -> ValidationReport | None:
        """Validate with the current mapping; updates the counts and the preview."""
        from .. import _api

        mapping = self.mapping
        options = {k: self._options[k] for k in _VALIDATE_OPTIONS if self._options.get(k) is not None}
        try:
            report = _api.validate(self.frame, mapping, **options)
        except Exception as exc:  # a mapping error, or a bug: shown, since a callback's exception is not
            text = str(exc) if isinstance(exc, AmpNotebookError) else f"{type(exc).__name__}: {exc}"
            self.report, self.error = None, redact(text)
            self.summary.value = f"<span style='color:#b00'>{html.escape(self.error)}</span>"
            self.preview.outputs = ()
            return None
        self.report, self.error = report, None
        self.status.value = ""
        self.summary.value = self._summary_html(report)
        if report.failures.empty:
            text = f"No problems: {'the' if len(self.frame) == 1 else 'all'} {plural(len(self.frame), 'row')} would be sent."
            self.preview.outputs = (_display_data(f"<p>{html.escape(text)}</p>", text),)
        else:
            styler = report.style(max_rows=PREVIEW_ROWS)
            plain = report.failures.head(PREVIEW_ROWS).to_string()
            self.preview.outputs = (_display_data(styler.to_html(), plain),)
        return report

    @property
    def counts(self) -> dict[str, int]:
        """Rows, rows with errors and rows with warnings in the latest report (empty before one)."""
        if self.report is None:
            return {}
        return {
            "rows": len(self.frame),
            "errors": len(self.report.error_positions),
            "warnings": len(self.report.warning_positions),
        }

    def _summary_html(self, report: ValidationReport) -> str:
        c = self.counts
        head = (
            f"<p><b>{c['rows']:,}</b> {'row' if c['rows'] == 1 else 'rows'}: <b style='color:#b00'>{c['errors']:,}</b> with errors "
            f"(not sent), <b style='color:#a60'>{c['warnings']:,}</b> with warnings</p>"
        )
        if report.unmapped:
            names = ", ".join(repr(c) for c in report.unmapped[:10])
            more = f" and {len(report.unmapped) - 10:,} more" if len(report.unmapped) > 10 else ""
            head += (
                f"<p style='color:#a60'>Not sent (no event key): {html.escape(names + more)}; "
                "select them under event_properties or user_properties to send them</p>"
            )
        reasons = report.counts()
        if reasons.empty:
            return head
        return head + reasons.to_html(index=False, escape=True)

    # -- sending -------------------------------------------------------------------------------

    def dry_run(self) -> UploadResult | None:
        """Validate, encode and batch with the current mapping; nothing is sent."""
        return self._send(dry_run=True)

    def upload(self) -> UploadResult | None:
        """Send with the current mapping to the session's endpoint (``%amplitude``) or sandbox."""
        return self._send(dry_run=False)

    def _send(self, *, dry_run: bool) -> UploadResult | None:
        from .. import _api

        options = dict(self._options)
        explicit = {k: options.pop(k, None) for k in _SESSION_OPTIONS}
        options.pop("dry_run", None)
        target = _session.merge_defaults(**explicit)
        options["progress"] = False
        what = "Dry run" if dry_run else "Upload"
        self._busy(True, f"{what} running...")
        try:
            result = _api.upload(
                self.frame,
                target.pop("api_key"),
                self.mapping,
                dry_run=dry_run,
                **target,
                **options,
            )
        except AmpNotebookError as exc:
            message = redact(str(exc))
            partial: UploadResult | None = getattr(exc, "result", None)
            self._show_result(partial, f"{what} failed: {message}")
            self.result = partial
            return None
        except Exception as exc:  # shown in the widget: a button callback's exception goes nowhere visible
            self._show_result(None, f"{what} failed: {type(exc).__name__}: {redact(str(exc))}")
            return None
        finally:
            self._busy(False, "")
        self.result = result
        self._show_result(result, None)
        return result

    def _busy(self, busy: bool, text: str) -> None:
        for button in self.buttons.values():
            button.disabled = busy
        self.status.value = html.escape(text)

    def _show_result(self, result: UploadResult | None, error: str | None) -> None:
        outputs = []
        if error is not None:
            outputs.append(_display_data(f"<pre style='color:#b00'>{html.escape(error)}</pre>", error))
        if result is not None:
            outputs.append(_display_data(result._repr_html_(), repr(result)))
        self.output.outputs = tuple(outputs)

    # -- showing ---------------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            # The deterministic text twin (design.md, principle 10) instead of the VBox's repr.
            bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        head = f"MapperUI: {len(self.frame):,} rows"
        if self.report is not None:
            head += f"; {self.report.summary()}"
        elif self.error is not None:
            head += f"; mapping error: {self.error}"
        return head + "\n" + self.code_text


def mapper(df: pd.DataFrame, mapping: Mapping[str, object] | None = None, **options: Any) -> MapperUI:
    """``df.amplitude.mapper()``: a widget to choose the mapping with live validation.

    ``options`` go to validation (``min_id_length``, ``tz``, ``time_unit``, ``now_ms``)
    and to the Dry run / Upload buttons (any ``upload`` option; ``progress`` is off);
    ``live=False`` validates only when "Validate" is pressed (for very large frames).
    """
    return MapperUI(df, mapping, **options)

