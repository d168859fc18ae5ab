"""Kline files are opened and parsed once (``marketdata.history.klines``): the import, the
simulator's history and the demo's start read the same rows from the same file shapes."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import pytest

from marketdata.history.klines import (
    KlineFormatError,
    iso_to_ms,
    iter_klines,
    klines_between,
    last_open_ms,
    open_kline_path,
)
from marketdata.sim.prices import load_history

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN = 60_000
ROWS = [("87000.5", "87010", "86990.25", "87005", "1.5"), ("87005", "87020", "87000", "87015", "2")]


def iso_file(rows=ROWS, start=T0) -> str:
    lines = ["timestamp,open,high,low,close,volume"]
    for i, row in enumerate(rows):
        stamp = f"2026-01-01T00:{i:02d}:00Z"
        assert iso_to_ms(stamp) == start + i * MIN
        lines.append(",".join((stamp, *row)))
    return "\n".join(lines) + "\n"


def archive_file(rows=ROWS, start=T0, scale=1) -> str:
    """data.binance.vision: no header, epoch ms (µs from 2025 on), 12 columns."""
    return "".join(
        f"{(start + i * MIN) * scale},{','.join(row)},{start + i * MIN + 59_999},0,1,0,0,0\n"
        for i, row in enumerate(rows)
    )


@pytest.mark.parametrize(
    ("text", "compress", "name"),
    [
        (iso_file(), bytes, "h.csv"),
        (archive_file(), gzip.compress, "archive.csv"),  # gzip, whatever the name says
        (archive_file(scale=1000), lzma.compress, "micros.csv.xz"),
    ],
)
def test_the_simulator_and_the_import_read_the_same_bars(tmp_path, text, compress, name):
    path = tmp_path / name
    path.write_bytes(compress(text.encode()))
    with open_kline_path(path) as lines:
        imported = list(iter_klines(lines, name=name))
    assert [k.open_time for k in imported] == ["2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"]
    load_history.cache_clear()
    bars = load_history(path).bars
    assert [(b.ts, b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        (iso_to_ms(k.open_time), *(float(v) for v in k[1:])) for k in imported
    ]
    assert last_open_ms(path) == T0 + MIN


def test_klines_between_keeps_the_range_and_stops_after_it():
    rows = [ROWS[0]] * 10
    for text in (iso_file(rows), archive_file(rows)):
        kept = list(klines_between(text.splitlines(True), T0 + 3 * MIN, T0 + 5 * MIN))
        assert [ts for ts, _ in kept] == [T0 + 3 * MIN, T0 + 4 * MIN]
        # a bad row past the end is never read: the file is in time order
        tail = [*text.splitlines(True)[:6], "garbage\n"]
        assert len(list(klines_between(tail, T0 + 2 * MIN, T0 + 4 * MIN))) == 2


def test_a_bad_row_in_the_range_names_the_file_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(iso_file() + "2026-01-01T00:02:00Z,1,2\n")
    load_history.cache_clear()
    with pytest.raises(KlineFormatError, match=r"bad.csv:4: expected 6\+ columns"):
        load_history(path)
    path.write_text(iso_file() + "oops\n")
    with pytest.raises(KlineFormatError, match=r"bad.csv:4: not a kline"):
        load_history(path, T0)
    with pytest.raises(KlineFormatError, match=r"bad.csv:4: not a kline"):
        last_open_ms(path)
    path.write_text(iso_file([ROWS[0]] * 30) + "oops\n")
    with pytest.raises(KlineFormatError, match=r"bad.csv:32: not a kline"):
        last_open_ms(path)


def test_the_last_open_time_skips_trailing_blank_lines_and_needs_a_row(tmp_path):
    path = tmp_path / "h.csv"
    rows = [ROWS[0]] * 40
    path.write_text(iso_file(rows) + "\n\n")
    assert last_open_ms(path) == T0 + 39 * MIN
    path.write_text("timestamp,open,high,low,close,volume\n")
    with pytest.raises(KlineFormatError, match="no kline rows"):
        last_open_ms(path)


def test_a_missing_file_raises_before_anything_is_read(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        open_kline_path(tmp_path / "absent.csv.xz")
