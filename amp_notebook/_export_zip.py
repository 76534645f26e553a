"""Reading a downloaded Export API answer: a zip of gzipped JSON-lines files.

The zip is read from a file (the caller streams the download to a temporary
file), one member at a time, each member decompressed as a stream and parsed in
batches of lines: memory stays bounded by a batch, however large the export.

A short or damaged export fails loudly (:class:`ExportError`): a zip cut short
has no central directory, a damaged member fails its CRC or ends in the middle
of its gzip stream, a line that is not JSON is named. Reading on past any of
those would turn a transport problem into rows reported "missing".
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from ._exceptions import ExportError

BATCH_LINES = 20_000


@dataclass
class ReadStats:
    """What was read: zip members, events (lines) and compressed bytes."""

    files: int = 0
    events: int = 0
    nbytes: int = 0


def _lines(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    with archive.open(info) as raw:
        if info.filename.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw) as unzipped:
                yield from unzipped
        else:
            yield from raw


def _member_batches(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, batch_lines: int, stats: ReadStats
) -> Iterator[list[dict[str, Any]]]:
    loads = orjson.loads
    batch: list[dict[str, Any]] = []
    number = 0
    lines = _lines(archive, info)
    while True:
        try:
            line = next(lines)
        except StopIteration:
            break
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
            raise ExportError(
                f"the export's file {info.filename} is damaged or cut short after {number:,} lines "
                f"({type(exc).__name__}: {exc}); nothing was compared: fetch it again"
            ) from None
        number += 1
        if not line.strip():
            continue
        try:
            event = loads(line)
        except orjson.JSONDecodeError:
            raise ExportError(f"line {number:,} of the export's file {info.filename} is not JSON") from None
        if not isinstance(event, dict):
            raise ExportError(f"line {number:,} of the export's file {info.filename} is not an event object")
        batch.append(event)
        if len(batch) >= batch_lines:
            stats.events += len(batch)
            yield batch
            batch = []
    if batch:
        stats.events += len(batch)
        yield batch


def iter_event_batches(
    file: IO[bytes], stats: ReadStats | None = None, *, batch_lines: int = BATCH_LINES
) -> Iterator[list[dict[str, Any]]]:
    """The exported events of ``file`` (a complete zip), in lists of at most ``batch_lines``."""
    stats = stats if stats is not None else ReadStats()
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ExportError(
            f"the export is not a complete zip file ({exc}): it was probably cut short on the "
            "way; nothing was compared: fetch it again"
        ) from None
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            stats.files += 1
            stats.nbytes += info.compress_size
            yield from _member_batches(archive, info, batch_lines, stats)


__all__ = ["BATCH_LINES", "ReadStats", "iter_event_batches"]
