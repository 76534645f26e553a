"""Every option of an upload, written once: its type, its default, a line of doc, its checks.

:class:`UploadOptions` (events) and :class:`IdentifyOptions` (Identify and Group
Identify) are frozen values. The ways in (``df.amplitude.upload``,
``amp_notebook.upload``, ``upload_async``, ``ddf.amplitude.upload``, identify ...)
take the options as keyword arguments, as they always have, and build one of these
with :meth:`SendOptions.from_keywords`: an unknown name is a ``TypeError`` naming it
and the nearest valid one. Their signatures (``help()``, Jupyter's Shift-Tab,
``inspect.signature``) are derived from the fields here (:func:`entry_signature`),
and so is the options part of their docstring (:func:`options_doc`): a new option is
one field here, nothing else.

The API key is not an option: it never sits in an options value (which goes into
Dask's task graph and reprs). Pure: no IO; httpx is not imported (the core imports
none), so a timeout and a transport are typed loosely here and used by the sender.
"""

from __future__ import annotations

import difflib
import inspect
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from typing import Any, Literal, TypeVar

from ._config import Pacing, tier_settings
from ._exceptions import ConfigurationError
from ._retry import RetryPolicy

__all__ = ["IdentifyOptions", "OnInvalid", "SendOptions", "UploadOptions", "entry_signature", "keyword",
           "options_doc", "takes"]

OnInvalid = Literal["skip", "raise", "send"]
ON_INVALID = ("skip", "raise", "send")

# Where each option is listed in help(): the headings of the docstring, in order.
WHERE, WHICH, HOW = "Where to", "Which rows", "How"
GROUPS = (WHERE, WHICH, HOW)


def _doc(group: str, doc: str) -> dict[str, str]:
    """A field's metadata: its heading in help() and its line (or a few) of doc."""
    return {"doc": doc, "group": group}


@dataclass(frozen=True, kw_only=True)
class SendOptions:
    """The options every sending entry shares (events, Identify, Group Identify)."""

    region: str | None = field(default=None, metadata=_doc(
        WHERE, '"us" (default) or "eu" (EU data residency).'))
    endpoint: str | None = field(default=None, metadata=_doc(
        WHERE, "another URL, e.g. a sandbox's. A base URL (``http://127.0.0.1:8000``) gets the API's "
        "path; plain http:// only on loopback."))
    on_invalid: OnInvalid = field(default="skip", metadata=_doc(
        WHICH, 'rows that break the rules locally: "skip" (default; reported as skipped), "raise" '
        '(``ValidationError``, nothing sent) or "send" (let Amplitude refuse them).'))
    dry_run: bool = field(default=False, metadata=_doc(
        WHICH, "validate, encode and batch; send nothing (needs no key)."))
    progress: Any = field(default="auto", metadata=_doc(
        HOW, '"auto" (a widget in a notebook, text in a terminal), "text", "widget", False (no bar; '
        "retries still say their cause on stderr, once each), or a callable taking progress "
        "updates."))
    retry: RetryPolicy | None = field(default=None, metadata=_doc(
        HOW, "a :class:`RetryPolicy` (attempts, backoff, time budget)."))
    timeout: Any = field(default=None, metadata=_doc(
        HOW, "seconds (or an ``httpx.Timeout``) per request."))
    concurrency: int = field(default=4, metadata=_doc(
        HOW, "requests in flight (default 4)."))
    pacing: Pacing | None = field(default=None, metadata=_doc(
        HOW, "a ``Pacing`` value for all the rate limits."))
    transport: Any = field(default=None, metadata=_doc(
        HOW, "an ``httpx.AsyncBaseTransport`` to send through (tests, the sandbox in-process); "
        "default: the network."))

    def __post_init__(self) -> None:
        if self.on_invalid not in ON_INVALID:
            raise ConfigurationError(f"on_invalid must be 'skip', 'raise' or 'send', not {self.on_invalid!r}")
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")

    @classmethod
    def from_keywords(cls: type[_O], where: str, keywords: Mapping[str, Any], *,
                      options: _O | None = None, extra: Iterable[str] = ()) -> _O:
        """The options named in ``keywords`` (over ``options``, when given: a ready value to reuse).

        An unknown name raises ``TypeError`` as Python does for a function, naming the
        nearest valid one; ``extra`` are names the caller takes itself (not checked here).
        """
        names = option_names(cls)
        unknown = [k for k in keywords if k not in names and k not in extra]
        if unknown:
            raise TypeError(_unexpected(where, unknown[0], [*names, *extra]))
        given = {k: v for k, v in keywords.items() if k in names}
        if options is not None and not isinstance(options, cls):
            raise TypeError(f"{where}() takes options={cls.__name__}(...), not {type(options).__name__}")
        if options is not None:
            return replace(options, **given) if given else options
        return cls(**given)


_O = TypeVar("_O", bound=SendOptions)


def _unexpected(where: str, name: str, valid: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{where}() got an unexpected keyword argument {name!r}{hint}"


@dataclass(frozen=True, kw_only=True)
class UploadOptions(SendOptions):
    """Every option of an event upload (``df.amplitude.upload``); see ``help(amp_notebook.upload)``."""

    api: str | None = field(default=None, metadata=_doc(
        WHERE, '"http" (HTTP V2, default) or "batch" (Batch Event Upload: history, busy devices).'))
    tier: str | None = field(default=None, metadata=_doc(
        WHERE, "\"starter\" for Starter plans' limits (10 events a request, 1000/s)."))
    sample: int | None = field(default=None, metadata=_doc(
        WHICH, "upload only a canary of this many rows, picked at random with a fixed seed (the same "
        "rows each time, in frame order), to try the setup first: the result covers those rows."))
    min_id_length: int | None = field(default=None, metadata=_doc(
        WHICH, "the shortest user_id/device_id Amplitude keeps (default 5; sent with the requests)."))
    tz: str = field(default="UTC", metadata=_doc(
        WHICH, 'the zone of times written without one (an IANA name: "Europe/Berlin").'))
    time_unit: str | None = field(default=None, metadata=_doc(
        WHICH, 'the unit of numeric times: "ms" (default), "s", "us" or "ns".'))
    missing_time: str = field(default="error", metadata=_doc(
        WHICH, 'an empty cell of a mapped time column: "error" (default: the row is skipped as '
        '``time_missing``) or "upload_time" (sent without time: Amplitude dates it at the '
        "upload time)."))
    now_ms: int | None = field(default=None, metadata=_doc(
        WHICH, '"now" for the time-in-the-future check (default: the clock).'))
    max_events_per_request: int | None = field(default=None, metadata=_doc(
        HOW, "a tighter limit than Amplitude's."))
    max_events_per_second: float | None = field(default=None, metadata=_doc(
        HOW, "a tighter project rate than Amplitude's."))
    max_requests_per_second: float | None = field(default=None, metadata=_doc(
        HOW, "a tighter project request rate than Amplitude's."))
    device_events_per_second: float | None = field(default=None, metadata=_doc(
        HOW, "a tighter rate per device than Amplitude's."))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sample is not None and (isinstance(self.sample, bool) or not isinstance(self.sample, int)
                                        or self.sample < 1):
            raise ConfigurationError(f"sample must be a positive number of rows, not {self.sample!r}")
        tier_settings(self.tier)  # a clear error for an unknown tier


Kind = Literal["user", "group"]


@dataclass(frozen=True, kw_only=True)
class IdentifyOptions(SendOptions):
    """Every option of ``df.amplitude.identify`` / ``group_identify``; see ``help(amp_notebook.identify)``."""

    kind: Kind = field(default="user", metadata=_doc(
        WHICH, '"user" (Identify) or "group" (Group Identify).'))
    group_type: object = field(default=None, metadata=_doc(
        WHICH, "groups: the type of every row's group (a value, e.g. \"company\")."))
    group_value: object = field(default=None, metadata=_doc(
        WHICH, "groups: the column holding each row's group (e.g. \"org_id\")."))
    operation: str = field(default="set", metadata=_doc(
        WHICH, "the operation of every property (set, setOnce, add, append, prepend, preInsert, "
        "postInsert, remove, unset)."))
    operations: Mapping[str, str] | None = field(default=None, metadata=_doc(
        WHICH, 'the operation per property: ``{"logins": "add", "first_seen": "setOnce"}``.'))
    unset_missing: bool | Iterable[str] = field(default=False, metadata=_doc(
        WHICH, "True (or a list of property names): a missing cell removes a ``set`` property; by "
        "default it leaves the property unchanged."))
    max_per_request: int | None = field(default=None, metadata=_doc(
        HOW, "smaller requests than the limits allow (1024, under 1 MB)."))
    resend_ambiguous: bool = field(default=False, metadata=_doc(
        HOW, "add, append and prepend are applied once per copy received (Identify has no "
        "insert_id): after an unclear answer such rows fail as ``ambiguous_add`` unless this is"
        " True."))


def option_names(cls: type[SendOptions]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


class _Shown(str):
    """An annotation as written in the source, shown without quotes by help()."""

    def __repr__(self) -> str:
        return str(self)


def keyword(name: str, default: Any, annotation: str) -> inspect.Parameter:
    """A keyword-only parameter to show in a signature (an entry's own, beside its options)."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=_Shown(annotation))


def _parameter(f: Field[Any]) -> inspect.Parameter:
    default = f.default if f.default is not MISSING else inspect.Parameter.empty
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=_Shown(str(f.type)))


def entry_signature(fn: Callable[..., Any], cls: type[SendOptions], *,
                    extra: Iterable[inspect.Parameter] = (), omit: Iterable[str] = ()) -> inspect.Signature:
    """``fn``'s signature with its ``**keywords`` spelled out: every field of ``cls`` with its
    type and default (but ``omit``), then ``extra`` (the entry's own keywords), then ``options=``
    (a ready value)."""
    own = inspect.signature(fn)
    head = [p for p in own.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    omit = {*omit, *(p.name for p in head)}
    ready = inspect.Parameter("options", inspect.Parameter.KEYWORD_ONLY, default=None,
                              annotation=_Shown(f"{cls.__name__} | None"))
    listed = sorted((f for f in fields(cls) if f.name not in omit),
                    key=lambda f: GROUPS.index(f.metadata["group"]))  # as in the docstring
    return own.replace(parameters=[*head, *(_parameter(f) for f in listed), *extra, ready])


def options_doc(cls: type[SendOptions], *, indent: str = "    ") -> str:
    """The options of ``cls`` as a docstring part: under each heading, ``name=default: doc``."""
    out: list[str] = []
    for group in GROUPS:
        items = [textwrap.fill(f"{f.name}={f.default!r}: {f.metadata['doc']}", 92, initial_indent=indent,
                               subsequent_indent=indent * 2, break_on_hyphens=False)
                 for f in fields(cls) if f.metadata.get("group") == group]
        if items:
            out += ["", f"{group}:", *items]
    return "\n".join(out)


def _insert(doc: str, part: str) -> str:
    """``doc`` with its ``{options}`` line replaced by ``part``, indented as that line."""
    out = []
    for line in doc.splitlines():
        if line.strip() == "{options}":
            margin = line[: len(line) - len(line.lstrip())]
            out += [margin + text if text else "" for text in part.splitlines()]
        else:
            out.append(line)
    return "\n".join(out)


_F = TypeVar("_F", bound=Callable[..., Any])


def takes(cls: type[SendOptions], *, extra: Iterable[inspect.Parameter] = (),
          omit: Iterable[str] = ()) -> Callable[[_F], _F]:
    """Decorate a way in whose ``**keywords`` are ``cls``'s fields: its signature lists them
    (:func:`entry_signature`) and ``{options}`` in its docstring becomes :func:`options_doc`."""
    extra, omit = tuple(extra), tuple(omit)

    def apply(fn: _F) -> _F:
        fn.__signature__ = entry_signature(fn, cls, extra=extra, omit=omit)  # type: ignore[attr-defined]
        if fn.__doc__:
            fn.__doc__ = _insert(fn.__doc__, options_doc(cls))
        return fn

    return apply
