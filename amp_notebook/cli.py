"""``amp-notebook``: the command line.

::

    amp-notebook demo                       sample events -> validate -> upload to a local sandbox
    amp-notebook sandbox [--port 0]         serve the local Amplitude emulator until Ctrl-C
    amp-notebook validate FILE [options]    check a CSV / Parquet / JSON Lines file, send nothing
    amp-notebook upload FILE [options]      validate and send it (key from AMPLITUDE_API_KEY)
    amp-notebook identify FILE [options]    user properties, one row per user (Identify API)
    amp-notebook group-identify FILE --group-type T --group-value COLUMN   group properties

Exit codes (``EXIT_CODES``, quoted by the README): 0 every row fine, 1 some rows
not (their file, with reasons, is written), 2 usage or configuration errors (one
line on stderr, no traceback), 130 interrupted.

Files: the rows to look at go beside the input, named after it, extension and
command included (``events.parquet.validate-errors.csv``,
``events.parquet.upload-not-ingested.csv``), so two inputs in one folder never
overwrite each other's file.

The API key is read from ``AMPLITUDE_API_KEY`` only: a flag would end up in
the shell's history and in ``ps``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import __version__, _api, _identify_api
from ._exceptions import (
    ConfigurationError,
    InvalidApiKey,
    LocalError,
    RequestRejected,
    UploadInterrupted,
)
from ._files import FORMATS, file_format, read_frame, write_frame
from ._identify_mapping import Kind, resolve_identify
from ._insert_key import key as insert_id_key
from ._keys import DEFAULT_MIN_ID_LENGTH, EVENT_KEYS, NESTED_KEYS
from ._mapping import Const, const, resolve_mapping
from ._rowreport import failures_text, invalid_rows_frame, not_ingested_frame
from ._time_text import iso_times
from ._times import check_tz
from ._validation import MISSING_TIME

if TYPE_CHECKING:  # pragma: no cover
    from ._report import ValidationReport
    from ._result import UploadResult

__all__ = ["main"]

PROG = "amp-notebook"
KEY_ENV = "AMPLITUDE_API_KEY"

# The contract, word for word in the README (tests/test_cli_files.py checks it).
EXIT_CODES = (
    "0: every row ingested (validate: no row with errors; warnings are fine)",
    "1: some rows were not ingested: skipped as invalid, rejected or failed (validate: some rows "
    "have errors); a file of those rows, with reasons, is written beside the input",
    "2: a usage or configuration error (one line on stderr, nothing sent)",
    "130: interrupted (Ctrl-C); the rows not acknowledged are in the file",
)
# What each command writes, after the input's own name: events.parquet.validate-errors.csv
OUT_SUFFIX = {
    "validate": "validate-errors.csv", "upload": "upload-not-ingested.csv",
    "identify": "identify-not-ingested.csv", "group-identify": "group-identify-not-ingested.csv",
}


class UsageError(Exception):
    """A command line that cannot work: exit 2 with this one-line message."""


# -- the parser ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Validate and upload event files to Amplitude; a local sandbox to try it.",
        epilog=f"The API key is read from {KEY_ENV} only (never a flag). Exit codes: "
        + "; ".join(EXIT_CODES) + ".",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser(
        "demo",
        help="validate and upload sample events to an embedded sandbox (no key, no network)",
        description="Build sample events (a few deliberately invalid), validate them, upload "
        "them to a local Amplitude sandbox, and upload again to show deduplication.",
    )
    demo.add_argument("--rows", type=int, default=300, help="number of sample events (default 300)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the sample (default 0)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")

    sandbox = sub.add_parser(
        "sandbox",
        help="serve the local Amplitude emulator on 127.0.0.1 until Ctrl-C",
        description="Serve a local emulator of Amplitude's HTTP V2 and Batch APIs on 127.0.0.1.",
    )
    sandbox.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")

    files = argparse.ArgumentParser(add_help=False)
    files.add_argument("file", metavar="FILE", help="events: " + ", ".join(FORMATS))
    files.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="KEY=COLUMN",
        help="take KEY from COLUMN (repeatable); event_properties=a,b,c takes a list of "
        "columns, event_properties.plan=col one property, KEY= drops an automatic match; "
        "'insert_id=key(order_id,event_type)' makes the insert_id from those columns only, "
        "so a corrected file sent again is not stored twice (quote it for the shell)",
    )
    files.add_argument(
        "--const",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="the same VALUE for every row (repeatable), e.g. event_type=Purchase",
    )
    files.add_argument(
        "--min-id-length", type=int, default=None, metavar="N",
        help=f"shortest accepted user_id/device_id (Amplitude's default: {DEFAULT_MIN_ID_LENGTH})",
    )
    files.add_argument("--tz", default="UTC", help="time zone of times without one (default UTC)")
    files.add_argument(
        "--time-unit", choices=("ms", "s", "us", "ns"), default=None,
        help="unit of numeric time columns (default ms)",
    )
    files.add_argument(
        "--time-format", default=None, metavar="FORMAT",
        help="read times that are not ISO 8601 with this strftime format, e.g. '%%d/%%m/%%Y %%H:%%M' "
        "(ISO 8601 cells are read as they are)",
    )
    files.add_argument(
        "--dayfirst", action="store_true",
        help="read dates like 03/04/2026 day first (3 April); ISO 8601 cells are not affected",
    )
    files.add_argument(
        "--missing-time", choices=MISSING_TIME, default="error",
        help="an empty time cell: error (default; the row is not sent) or upload_time "
        "(sent without time: Amplitude dates it at the upload time)",
    )
    files.add_argument(
        "--out", default=None, metavar="FILE",
        help="where to write the rows to look at, with reasons (default: beside FILE, named "
        "FILE.validate-errors.csv or FILE.upload-not-ingested.csv)",
    )

    sub.add_parser(
        "validate", parents=[files],
        help="check a file against Amplitude's rules; nothing is sent",
        description="Check every row against Amplitude's rules; write the rows with errors, "
        "with reasons, to --out. Exit 1 when some rows have errors.",
    )
    upload = sub.add_parser(
        "upload", parents=[files],
        help=f"validate and upload a file (API key from {KEY_ENV})",
        description=f"Validate a file and send its valid rows; write the rows not ingested, "
        f"with reasons, to --out. The API key comes from {KEY_ENV}.",
    )
    upload.add_argument("--region", choices=("us", "eu"), default="us", help="data center (default us)")
    upload.add_argument(
        "--api", choices=("http", "batch"), default="http",
        help="HTTP V2 (http, default) or Batch Event Upload (batch)",
    )
    upload.add_argument("--endpoint", default=None, metavar="URL",
                        help="send here instead (e.g. a sandbox's HTTP V2 URL)")
    upload.add_argument("--dry-run", action="store_true",
                        help="validate, encode and batch; send nothing (needs no key)")
    upload.add_argument("--no-progress", action="store_true", help="no progress bar")
    _identify_parsers(sub)
    return parser


def _identify_parsers(sub: Any) -> None:
    """``identify`` and ``group-identify``: the same sending options as ``upload``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("file", metavar="FILE", help="one row per user (group): " + ", ".join(FORMATS))
    common.add_argument(
        "--map", action="append", default=[], metavar="KEY=COLUMN",
        help="take KEY (user_id, device_id, platform, ...) from COLUMN (repeatable); "
        "user_properties=a,b,c sends only those columns; COLUMN= leaves a column out",
    )
    common.add_argument("--op", action="append", default=[], metavar="PROPERTY=OPERATION",
                        help="the operation of one property (repeatable): set, setOnce, add, append, "
                        "prepend, preInsert, postInsert, remove, unset")
    common.add_argument("--operation", default="set", metavar="OPERATION",
                        help="the operation of the other properties (default set)")
    common.add_argument("--unset-missing", action="store_true",
                        help="an empty cell of a set property removes it (default: left unchanged)")
    common.add_argument("--region", choices=("us", "eu"), default="us", help="data center (default us)")
    common.add_argument("--endpoint", default=None, metavar="URL",
                        help="send here instead (e.g. a sandbox's /identify URL)")
    common.add_argument("--dry-run", action="store_true", help="validate and batch; send nothing (needs no key)")
    common.add_argument("--no-progress", action="store_true", help="no progress bar")
    common.add_argument("--out", default=None, metavar="FILE",
                        help="where to write the rows not ingested, with reasons (default: beside "
                        "FILE, named FILE.identify-not-ingested.csv or FILE.group-identify-not-ingested.csv)")
    sub.add_parser("identify", parents=[common], help=f"set user properties from a file (API key from {KEY_ENV})",
                   description="Send one row per user (or device) to Amplitude's Identify API: ids, then "
                   "property columns (set unless --op says otherwise); write the rows not ingested, "
                   "with reasons, to --out.")
    group = sub.add_parser("group-identify", parents=[common],
                           help=f"set group properties from a file (API key from {KEY_ENV})",
                           description="Send one row per group to Amplitude's Group Identify API.")
    group.add_argument("--group-type", required=True, metavar="TYPE", help="the group type, e.g. company")
    group.add_argument("--group-value", required=True, metavar="COLUMN", help="the column of group values")


# -- mapping from the command line -----------------------------------------------------------


def _split(item: str, flag: str) -> tuple[str, str]:
    key, eq, value = item.partition("=")
    key = key.strip()
    if not eq or not key:
        raise UsageError(f"{flag} {item!r}: expected KEY=VALUE")
    return key, value


def _const_value(key: str, text: str) -> object:
    """The constant with the JSON type its event key takes (reference, "Event keys")."""
    kind = EVENT_KEYS.get(key)
    try:
        if kind == "integer":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        wanted = "an integer" if kind == "integer" else "a number"
        raise UsageError(f"--const {key}={text}: {key} takes {wanted}") from None
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise UsageError(f"--const {key}={text}: {key} takes true or false")
    return text


# --map insert_id=key(order_id,event_type): amp_notebook.key("order_id", "event_type").
_KEY_CALL = re.compile(r"\s*key\((.*)\)\s*", re.DOTALL)


def _insert_id_key(item: str, value: str) -> object | None:
    """``key(a,b)`` -> ``key("a", "b")`` (README, "An insert_id from your own key"); None when
    ``value`` is not written so (a plain column name). Column names are as in the file, split
    on commas and stripped."""
    call = _KEY_CALL.fullmatch(value)
    if call is None:
        return None
    columns = [c.strip() for c in call.group(1).split(",")]
    if not all(columns):
        raise UsageError(f"--map {item!r}: key(...) takes column names separated by commas, "
                         "e.g. insert_id=key(order_id,event_type)")
    try:
        return insert_id_key(*columns)
    except ConfigurationError as exc:
        raise UsageError(f"--map {item!r}: {exc}") from None


def parse_mapping(maps: Sequence[str], consts: Sequence[str]) -> dict[str, object] | None:
    """``--map`` / ``--const`` items -> the ``mapping=`` argument of the Python API."""
    mapping: dict[str, object] = {}
    for flag, items in (("--map", maps), ("--const", consts)):
        for item in items:
            key, value = _split(item, flag)
            if key in mapping:
                raise UsageError(f"{flag} {item!r}: {key} is given more than once")
            if flag == "--const":
                mapping[key] = const(_const_value(key, value))
            elif value.strip() == "":
                mapping[key] = None  # drop an automatic match
            elif (by_key := _insert_id_key(item, value)) is not None:
                mapping[key] = by_key
            elif key in NESTED_KEYS and "," in value:
                mapping[key] = [c.strip() for c in value.split(",") if c.strip()]
            else:
                mapping[key] = value
    return mapping or None


def parse_identify_mapping(maps: Sequence[str]) -> dict[str, object] | None:
    """``--map`` items of identify / group-identify -> the ``mapping=`` argument."""
    mapping: dict[str, object] = {}
    for item in maps:
        key, value = _split(item, "--map")
        if key in mapping:
            raise UsageError(f"--map {item!r}: {key} is given more than once")
        if value.strip() == "":
            mapping[key] = None  # leave the column (or an automatic match) out
        elif key in ("user_properties", "group_properties"):
            mapping[key] = [c.strip() for c in value.split(",") if c.strip()]
        else:
            mapping[key] = value
    return mapping or None


def _identify_text_columns(kind: Kind, mapping: dict[str, object] | None) -> Callable[[pd.Index], list[Hashable]]:
    """Ids, group values and Amplitude's fields are text: read them as such from CSV."""

    def pick(columns: pd.Index) -> list[Hashable]:
        m = resolve_identify(columns, kind, mapping)
        return [s for s in (*m.ids.values(), *m.fields.values()) if not isinstance(s, Const)]

    return pick


def _text_columns(mapping: dict[str, object] | None) -> Callable[[pd.Index], list[Hashable]]:
    """The columns that feed string keys (ids above all), to be read as text from CSV."""

    def pick(columns: pd.Index) -> list[Hashable]:
        rm = resolve_mapping(columns, mapping)
        return [
            f.source
            for f in rm.fields
            if f.name is None and not f.is_const and EVENT_KEYS.get(f.key) == "string"
        ]

    return pick


# -- helpers ----------------------------------------------------------------------------------


def _check_tz(tz: str) -> None:
    try:
        check_tz(tz)
    except ConfigurationError as exc:
        raise UsageError(f"--tz {tz!r}: {exc}") from None


def _read_times(frame: pd.DataFrame, mapping: dict[str, object] | None, args: argparse.Namespace) -> pd.DataFrame:
    """With --time-format / --dayfirst: the mapped time column's non-ISO text rewritten as ISO."""
    if args.time_format is None and not args.dayfirst:
        return frame
    field = resolve_mapping(frame.columns, mapping).get("time")
    if field is None or field.is_const:
        raise UsageError("--time-format / --dayfirst: no time column is mapped (--map time=COLUMN)")
    out: pd.DataFrame = frame.copy(deep=False)
    out[field.source] = iso_times(frame[field.source], format=args.time_format, dayfirst=args.dayfirst)
    return out


def _read(
    path: Path, mapping: dict[str, object] | None, text: Callable[[pd.Index], list[Hashable]] | None = None
) -> pd.DataFrame:
    file_format(path)  # an unknown extension is the first thing to say
    if not path.is_file():
        raise UsageError(f"cannot read {path}: no such file")
    try:
        return read_frame(path, text or _text_columns(mapping))
    except LocalError:
        raise
    except ImportError as exc:
        raise UsageError(f"cannot read {path}: {exc} (Parquet needs pyarrow: pip install pyarrow)") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def _out_path(args: argparse.Namespace) -> Path:
    if args.out:
        return Path(args.out)
    src = Path(args.file)
    return src.with_name(f"{src.name}.{OUT_SUFFIX[args.command]}")


def _write_rows(rows: pd.DataFrame, path: Path, what: str) -> None:
    try:
        write_frame(rows, path)
    except (OSError, ValueError, ImportError) as exc:
        raise UsageError(f"cannot write {path}: {exc}") from None
    noun = "row" if len(rows) == 1 else "rows"
    print(f"wrote {len(rows):,} {noun} {what}, with reasons, to {path}")


def _say_unmapped(report: ValidationReport) -> None:
    """Columns that feed no event key are not sent: say so, with the --map to send them."""
    if report.unmapped:
        print(report.unmapped_text(cli=True))


# -- commands ----------------------------------------------------------------------------------


def _validate(args: argparse.Namespace) -> int:
    mapping = parse_mapping(args.map, args.const)
    _check_tz(args.tz)
    path = Path(args.file)
    original = _read(path, mapping)
    frame = _read_times(original, mapping, args)
    report = _api.validate(
        frame,
        mapping,
        min_id_length=args.min_id_length if args.min_id_length is not None else DEFAULT_MIN_ID_LENGTH,
        tz=args.tz,
        time_unit=args.time_unit,
        missing_time=args.missing_time,
    )
    print(f"{path.name}: {report.summary()}")
    _say_unmapped(report)
    if report.failures.empty:
        return 0
    print(failures_text(report.failures))
    if report.ok:
        return 0
    _write_rows(invalid_rows_frame(report, original), _out_path(args), "with errors")
    return 1


def _need_key(args: argparse.Namespace) -> None:
    if not args.dry_run and not os.environ.get(KEY_ENV, "").strip():
        raise UsageError(
            f"no API key: set {KEY_ENV} (read from the environment only, never a flag, so it "
            "stays out of shell history); --dry-run needs none"
        )


def _upload(args: argparse.Namespace) -> int:
    mapping = parse_mapping(args.map, args.const)
    _check_tz(args.tz)
    _need_key(args)
    original = _read(Path(args.file), mapping)
    frame = _read_times(original, mapping, args)
    return _send(args, original, lambda: _api.upload(
        frame,
        None,  # resolve_api_key reads AMPLITUDE_API_KEY
        mapping,
        region=args.region,
        api=args.api,
        endpoint=args.endpoint,
        dry_run=args.dry_run,
        progress=False if args.no_progress else "text",
        min_id_length=args.min_id_length,
        tz=args.tz,
        time_unit=args.time_unit,
        missing_time=args.missing_time,
    ))


def _identify(args: argparse.Namespace) -> int:
    _need_key(args)
    kind: Kind = "group" if args.command == "group-identify" else "user"
    mapping = parse_identify_mapping(args.map)
    if kind == "group":
        mapping = {**(mapping or {}), "group_type": const(args.group_type), "group_value": args.group_value}
    operations = dict(_split(item, "--op") for item in args.op)
    frame = _read(Path(args.file), mapping, _identify_text_columns(kind, mapping))
    return _send(args, frame, lambda: _identify_api.identify(
        frame, None, mapping, kind=kind, operation=args.operation, operations=operations,
        unset_missing=args.unset_missing, region=args.region, endpoint=args.endpoint, dry_run=args.dry_run,
        progress=False if args.no_progress else "text",
    ))


def _send(args: argparse.Namespace, original: pd.DataFrame, send: Callable[[], UploadResult]) -> int:
    """Run the send, print the result, write the rows not ingested (as read: ``original``); the exit code."""
    out = _out_path(args)
    try:
        result = send()
    except InvalidApiKey as exc:
        raise UsageError(str(exc)) from None
    except RequestRejected as exc:
        _report_partial(exc.result, out, original)
        _fail(str(exc))
        return 1
    except UploadInterrupted as exc:
        _report_partial(exc.result, out, original)
        _fail(str(exc))
        return 130
    if result.validation is not None:
        _say_unmapped(result.validation)
    print(repr(result))
    bad = not_ingested_frame(result, original)
    if bad.empty:
        return 0
    _write_rows(bad, out, "not sent" if args.dry_run else "not ingested")
    return 1


def _report_partial(result: UploadResult | None, out: Path, original: pd.DataFrame) -> None:
    if result is None:
        return
    print(repr(result))
    bad = not_ingested_frame(result, original)
    if not bad.empty:
        _write_rows(bad, out, "not ingested")


def _demo(args: argparse.Namespace) -> int:
    from .demo import DEMO_MAPPING, sample_events
    from .sandbox import Sandbox

    if args.rows < 1:
        raise UsageError("--rows must be at least 1")
    frame = sample_events(args.rows, seed=args.seed)
    clean = sample_events(args.rows, seed=args.seed, invalid=False)  # the same rows, unbroken
    users = clean["user_id"].nunique()
    devices = clean["device_id"].nunique()
    print(
        f"amp-notebook demo: {len(frame):,} sample events from {users} users on {devices} devices, "
        "a few of them deliberately invalid.\nEverything stays on this machine: "
        "the uploads go to a local Amplitude sandbox (no key, no network).\n"
    )
    print(f"Mapping: {DEMO_MAPPING}  (user_id, device_id, event_type, time, ... match by name)\n")

    print("1. Validate (nothing is sent)")
    report = _api.validate(frame, DEMO_MAPPING)
    print(f"   {report.summary()}")
    print(_indent(failures_text(report.failures)))
    print()

    progress: Any = False if args.no_progress else "text"
    # Any key: the sandbox accepts every key by default; it never leaves this process.
    demo_key = "demo-key-for-the-local-sandbox"
    with Sandbox() as sb:
        print(f"2. Upload to the sandbox at {sb.http_url} (invalid rows are skipped)")
        sys.stdout.flush()  # the progress bar goes to stderr: keep the order on a terminal
        first = _api.upload(frame, demo_key, DEMO_MAPPING, endpoint=sb.http_url, progress=progress)
        print(_indent(repr(first)))
        stored = len(sb.ingested)
        print(f"   the sandbox now stores {stored:,} events\n")

        print("3. Upload the same frame again (what you do after an interruption)")
        sys.stdout.flush()
        second = _api.upload(frame, demo_key, DEMO_MAPPING, endpoint=sb.http_url, progress=progress)
        print(_indent(repr(second)))
        stored_again = len(sb.ingested)
        duplicates = sb.emulator.duplicates
    print(
        f"   the sandbox still stores {stored_again:,} events: the {duplicates:,} resent events "
        "had the same insert_id, so they were dropped as duplicates\n"
    )

    valid = len(frame) - len(report.error_positions)
    fine = first.ingested_count == valid == stored and stored_again == stored
    if not fine:
        _fail(
            f"demo check failed: {valid} valid rows, {first.ingested_count} ingested, "
            f"{stored} stored, {stored_again} after the second run"
        )
        return 1
    print(
        "Next: `amp-notebook sandbox` for a sandbox that keeps running, then\n"
        f"`{KEY_ENV}=any amp-notebook upload events.csv --endpoint <the URL it prints>`."
    )
    return 0


def _indent(text: str, prefix: str = "   ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def _sandbox(args: argparse.Namespace) -> int:
    from .sandbox import Sandbox

    done = threading.Event()
    previous: Any = None
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        # SIGTERM (kill, process managers, tests) stops it as cleanly as Ctrl-C.
        def stop(signum: int, frame: FrameType | None) -> None:
            done.set()

        previous = signal.signal(signal.SIGTERM, stop)
    try:
        with Sandbox(port=args.port) as sb:
            print(f"Amplitude sandbox: {sb.url}", flush=True)
            print(f"  HTTP V2: {sb.http_url}", flush=True)
            print(f"  Batch:   {sb.batch_url}", flush=True)
            print(f"  Identify: {sb.identify_url}  Group Identify: {sb.group_identify_url}", flush=True)
            print(
                f"Any API key is accepted. Try: {KEY_ENV}=any {PROG} upload FILE "
                f"--endpoint {sb.http_url}\nCtrl-C to stop.",
                flush=True,
            )
            try:
                while not done.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            stored = len(sb.ingested)
        print(f"stopped; events stored: {stored:,}", flush=True)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    return 0


_COMMANDS = {"demo": _demo, "sandbox": _sandbox, "validate": _validate, "upload": _upload,
             "identify": _identify, "group-identify": _identify}


def _fail(message: str) -> None:
    one_line = " ".join(message.split())
    print(f"{PROG}: error: {one_line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return _COMMANDS[args.command](args)
    except (UsageError, LocalError) as exc:
        # MappingError, ConfigurationError, unreadable files: the user's to fix, no traceback.
        _fail(str(exc))
        return 2
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
