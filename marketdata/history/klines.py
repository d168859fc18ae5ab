"""Binance-format 1-minute klines: files (plain or compressed) and REST rows → one row shape.

Accepted files: our shared history (header ``timestamp,open,high,low,close,volume``, ISO-8601
UTC open times) and Binance's own archive CSVs (no header, open time in epoch ms, or µs in
archives from 2025 on, followed by open, high, low, close, volume and more columns). Gzip,
xz and bzip2 are recognised by their magic bytes, whatever the file is called.

Prices and volumes stay the exchange's decimal strings: they are stored exactly. This is the
one reader of kline files: the import command, the simulator's history and the demo's start
all open and parse them here.
"""

from __future__ import annotations

import bz2
import collections
import gzip
import io
import itertools
import lzma
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO, NamedTuple, cast

ISO_HEADER = "timestamp,open,high,low,close,volume"
_MICROS_FROM = 10**14  # epoch values above this are microseconds (Binance archives, 2025+)
_TAIL_LINES = 16  # kept while reading to the end: blank lines may trail the last row


class KlineFormatError(ValueError):
    """A kline line or REST row that cannot be read; the message names the line."""


class Kline(NamedTuple):
    """One 1-minute bar as text: ISO-8601 UTC open time and the exchange's decimal strings."""

    open_time: str
    open: str
    high: str
    low: str
    close: str
    volume: str


def open_kline_file(raw: io.RawIOBase) -> io.TextIOWrapper:
    """Text lines of a kline file given its raw byte stream (decompressed if need be).
    Closing the returned wrapper closes the decompressor and ``raw``."""
    buffered = io.BufferedReader(raw)
    head = buffered.peek(6)[:6]
    stream: io.BufferedIOBase = buffered
    # The decompressors are closed through the text wrapper that owns them.
    if head.startswith(b"\x1f\x8b"):
        stream = gzip.GzipFile(fileobj=buffered)
    elif head.startswith(b"\xfd7zXZ\x00"):
        stream = lzma.LZMAFile(buffered)  # noqa: SIM115
    elif head.startswith(b"BZh"):
        stream = bz2.BZ2File(buffered)
    return io.TextIOWrapper(cast(BinaryIO, stream), encoding="ascii", newline="")


def open_kline_path(path: str | Path) -> io.TextIOWrapper:
    """Text lines of the kline file at ``path`` (decompressed if need be, by its magic bytes,
    whatever its name). Close it (or use it as a context manager) when done."""
    raw = io.FileIO(Path(path).expanduser())
    try:
        return open_kline_file(raw)
    except BaseException:
        raw.close()
        raise


@dataclass(slots=True)
class IsoKlineCsv:
    """A kline file in the shared history's own format (``timestamp,open,high,low,close,volume``
    with ISO times), header already read. PostgreSQL can COPY its text as it is, which is
    several times faster than parsing 1.6M lines in Python."""

    stream: IO[str]
    name: str

    def chunks(self, size: int = 1 << 20) -> Iterator[str]:
        while block := self.stream.read(size):
            yield block

    def klines(self) -> Iterator[Kline]:
        return iter_klines(self.stream, name=self.name, first_line=2)


def read_kline_file(text: IO[str], *, name: str) -> IsoKlineCsv | Iterator[Kline]:
    """The rows of an opened kline file, as raw CSV when its format allows a straight COPY."""
    first = text.readline()
    if first.strip() == ISO_HEADER:
        return IsoKlineCsv(text, name)
    return iter_klines(itertools.chain([first], text), name=name)


def iter_klines(
    lines: Iterable[str], *, name: str = "klines", first_line: int = 1
) -> Iterator[Kline]:
    """Parse CSV lines (a header line is skipped) into ``Kline`` rows."""
    for number, line in enumerate(lines, start=first_line):
        kline = _parse_line(line, number, name)
        if kline is not None:
            yield kline


def klines_between(
    lines: Iterable[str], start_ms: int | None, end_ms: int | None, *, name: str = "klines"
) -> Iterator[tuple[int, Kline]]:
    """``(open ms, Kline)`` for the rows with ``start_ms <= open < end_ms`` of a file in time
    order, which is read no further than its first row past ``end_ms``. Rows before
    ``start_ms`` in the shared history's ISO shape are skipped unparsed (ISO times sort as
    strings): a replay wants days of a 1.6M-row file."""
    lo = _iso_second(start_ms) if start_ms is not None else ""
    hi = _iso_second(end_ms) if end_ms is not None else "~"
    for number, line in enumerate(lines, start=1):
        if line[10:11] == "T" and line[19:21] == "Z,":
            if line[:20] < lo:
                continue
            if line[:20] >= hi:
                break
        kline = _parse_line(line, number, name)
        if kline is None:
            continue
        ts = iso_to_ms(kline.open_time)
        if start_ms is not None and ts < start_ms:
            continue
        if end_ms is not None and ts >= end_ms:
            break
        yield ts, kline


def _parse_line(line: str, number: int, name: str) -> Kline | None:
    """One CSV line → ``Kline``; None for the header (line 1) or a blank line."""
    fields = line.rstrip("\r\n").split(",")
    stamp = fields[0]
    if not stamp[:1].isdigit():
        if number == 1 or not line.strip():
            return None
        raise KlineFormatError(f"{name}:{number}: not a kline: {line[:80]!r}")
    if len(fields) < 6:
        raise KlineFormatError(f"{name}:{number}: expected 6+ columns: {line[:80]!r}")
    if stamp.isdigit():
        stamp = epoch_to_iso(int(stamp))
    return Kline(stamp, fields[1], fields[2], fields[3], fields[4], fields[5])


def klines_from_rest(rows: Iterable[list[Any]]) -> Iterator[Kline]:
    """Rows of ``GET /api/v3/klines`` (``[open_ms, "open", "high", "low", "close", "volume",
    close_ms, …]``) → ``Kline``."""
    for row in rows:
        if not isinstance(row, list) or len(row) < 6 or not isinstance(row[0], int):
            raise KlineFormatError(f"unexpected kline row {row!r}")
        values = row[1:6]
        if not all(isinstance(value, str) for value in values):
            raise KlineFormatError(f"kline values must be decimal strings: {row!r}")
        yield Kline(epoch_to_iso(row[0]), *values)


def iso_to_ms(open_time: str) -> int:
    """A ``Kline.open_time`` (ISO-8601, UTC unless it names an offset) → epoch milliseconds."""
    try:
        when = datetime.fromisoformat(open_time)
    except ValueError as exc:
        raise KlineFormatError(f"open time {open_time[:40]!r} is not ISO-8601") from exc
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() * 1000)


def last_open_ms(path: str | Path) -> int:
    """Open time (ms) of the last bar of a kline file. A compressed file cannot be read
    backwards, so it is read to its end (seconds for the shared 3-year history); only its
    last lines are parsed."""
    with open_kline_path(path) as text:
        tail = collections.deque(enumerate(text, start=1), maxlen=_TAIL_LINES)
    first = tail[0][0] if tail else 1  # the file's own line numbers, for the error messages
    lines = (line for _, line in tail)
    klines = list(iter_klines(lines, name=Path(path).name, first_line=first))
    if not klines:
        raise KlineFormatError(f"{path}: no kline rows")
    return iso_to_ms(klines[-1].open_time)


def _iso_second(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_to_iso(value: int) -> str:
    millis = value // 1000 if value >= _MICROS_FROM else value
    if millis % 1000:
        raise KlineFormatError(f"open time {value} is not on a whole second")
    return datetime.fromtimestamp(millis // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
