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

import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from ._exceptions import ExportError

# Lines parsed at a time: an exported event is a dict of about 50 keys (a few kB), so a
# batch of 5,000 is some 20 MB, whatever the size of the export.
BATCH_LINES = 5_000
_CHUNK = 1 << 20


@dataclass
class ReadStats:
    """What was read: zip members, events (lines) and compressed bytes."""

    files: int = 0
    events: int = 0
    nbytes: int = 0


def _gunzip_lines(raw: IO[bytes]) -> Iterator[bytes]:
    """The lines of a gzip stream (several members allowed), decompressed a chunk at a
    time; a stream that ends before its end marker raises ``EOFError``, a bad CRC
    ``zlib.error``: both mean a damaged export."""
    inflate = zlib.decompressobj(wbits=31)
    tail = b""
    while True:
        chunk = raw.read(_CHUNK)
        if not chunk:
            break
        data = inflate.decompress(chunk)
        while inflate.eof and inflate.unused_data:  # the next gzip member, if any
            rest = inflate.unused_data
            inflate = zlib.decompressobj(wbits=31)
            data += inflate.decompress(rest)
        if data:
            lines = (tail + data).split(b"\n")
            tail = lines.pop()
            yield from lines
    if not inflate.eof:
        raise EOFError("the gzip stream ends before its end marker")
    if tail:
        yield tail


def _lines(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    with archive.open(info) as raw:
        if info.filename.endswith(".gz"):
            yield from _gunzip_lines(raw)
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
