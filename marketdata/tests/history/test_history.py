"""History: import_history (files) and backfill_klines (REST, against the simulator)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command
from django.db import connections

from marketdata.history.backfill import backfill
from marketdata.models import Candle
from marketdata.sim.testing import running_simulator

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 1, 1, 0, 10, tzinfo=UTC)  # mid quarter-hour: the first quarter is partial
REQUIRE_SERVICES = os.environ.get("KBTC_REQUIRE_SERVICES") == "1"
REAL_ROWS = 1_588_920


def _bars(n: int, start: datetime = T0) -> list[tuple[datetime, str, str, str, str, str]]:
    rows = []
    price = Decimal("87000.00")
    for i in range(n):
        step = Decimal((i * 37) % 11 - 5) / 4  # deterministic wiggle, whole cents
        o, c = price, price + step
        rows.append(
            (start + timedelta(minutes=i), str(o), str(max(o, c) + Decimal("1.5")),
             str(min(o, c) - Decimal("0.25")), str(c), f"{Decimal(i + 1) / 1000:.5f}")
        )  # fmt: skip
        price = c
    return rows


def _iso_csv(rows) -> str:
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [f"{t:%Y-%m-%dT%H:%M:%SZ},{o},{h},{lo},{c},{v}" for t, o, h, lo, c, v in rows]
    return "\n".join(lines) + "\n"


def _archive_csv(rows) -> str:
    """Binance's data.binance.vision layout: no header, epoch ms, 12 columns."""
    return "".join(
        f"{int(t.timestamp() * 1000)},{o},{h},{lo},{c},{v},{int(t.timestamp() * 1000) + 59_999},"
        f"0,1,0,0,0\n"
        for t, o, h, lo, c, v in rows
    )


def _import(path: Path) -> str:
    from io import StringIO

    out = StringIO()
    call_command("import_history", str(path), "--no-progress", stdout=out)
    return out.getvalue()


def _stored(interval_s: int, source: str = "binance"):
    return list(
        Candle.objects.filter(source=source, interval_s=interval_s)
        .order_by("open_time")
        .values_list("open_time", "open", "high", "low", "close", "volume", "tick_count")
    )


def test_it_loads_every_row_and_rolls_up_quarter_hours(tmp_path):
    rows = _bars(40)  # 00:10 .. 00:49: quarters 00:00 (5 bars), 00:15, 00:30 (15 each), 00:45 (5)
    path = tmp_path / "k.csv"
    path.write_text(_iso_csv(rows))

    assert "read 40 rows" in _import(path)

    minutes = _stored(60)
    assert [(m[0], str(m[1]), str(m[4]), str(m[5])) for m in minutes] == [
        (t, o, c, f"{Decimal(v):.8f}") for t, o, h, lo, c, v in rows
    ]
    quarters = _stored(900)
    assert [q[0].strftime("%H:%M") for q in quarters] == ["00:00", "00:15", "00:30", "00:45"]
    assert [q[6] for q in quarters] == [5, 15, 15, 5]  # tick_count: minutes in the bar
    second = rows[5:20]
    assert quarters[1][1:6] == (
        Decimal(second[0][1]),
        max(Decimal(r[2]) for r in second),
        min(Decimal(r[3]) for r in second),
        Decimal(second[-1][4]),
        sum(Decimal(r[5]) for r in second),
    )


def test_a_second_run_changes_nothing(tmp_path):
    path = tmp_path / "k.csv"
    path.write_text(_iso_csv(_bars(30)))
    _import(path)
    before = _stored(60), _stored(900)

    output = _import(path)

    assert "0 new 1-minute bars, 30 already stored, 0 15-minute bars written" in output
    assert (_stored(60), _stored(900)) == before


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".gz", gzip.compress), (".xz", lzma.compress), (".bz2", bz2.compress), ("", bytes)],
)
def test_compressed_files_and_binance_archive_rows_load_the_same(tmp_path, suffix, compress):
    rows = _bars(20)
    iso = tmp_path / f"iso.csv{suffix}"
    iso.write_bytes(compress(_iso_csv(rows).encode()))
    _import(iso)
    expected = _stored(60), _stored(900)
    Candle.objects.all().delete()

    archive = tmp_path / f"archive{suffix}"  # the name does not matter: magic bytes do
    archive.write_bytes(compress(_archive_csv(rows).encode()))
    _import(archive)

    assert (_stored(60), _stored(900)) == expected
    assert len(expected[0]) == 20


def test_a_later_import_completes_a_partial_quarter(tmp_path):
    rows = _bars(20)  # 00:10 .. 00:29
    late, early = tmp_path / "late.csv", tmp_path / "early.csv"
    late.write_text(_iso_csv(rows[5:]))  # 00:15 .. 00:29
    early.write_text(_iso_csv(rows[:8]))  # 00:10 .. 00:17, overlaps the first file
    _import(late)
    _import(early)

    one_go = _stored(60), _stored(900)
    Candle.objects.all().delete()
    whole = tmp_path / "whole.csv"
    whole.write_text(_iso_csv(rows))
    _import(whole)
    assert (_stored(60), _stored(900)) == one_go


def test_prices_finer_than_a_cent_are_refused_and_nothing_is_stored(tmp_path):
    rows = _bars(10)
    rows[7] = (rows[7][0], "87000.001", *rows[7][2:])
    path = tmp_path / "bad.csv"
    path.write_text(_iso_csv(rows))

    with pytest.raises(CommandError, match="finer than cents"):
        _import(path)
    assert Candle.objects.count() == 0


def test_trailing_zeros_are_not_extra_precision(tmp_path):
    rows = [(T0, "87000.12000000", "87001.00000000", "86999.50000000", "87000.5", "1.23456789")]
    path = tmp_path / "zeros.csv"
    path.write_text(_iso_csv(rows))
    _import(path)
    assert [str(c[1]) for c in _stored(60)] == ["87000.12"]


@pytest.mark.postgres
@pytest.mark.slow
def test_the_real_binance_file_loads_every_row_and_a_second_run_is_a_no_op():
    history = os.environ.get("KBTC_HISTORY")
    if not history:
        message = "KBTC_HISTORY is not set (point it at the shared Binance 1-minute file)"
        if REQUIRE_SERVICES:
            pytest.fail(f"KBTC_REQUIRE_SERVICES=1 but {message}", pytrace=False)
        pytest.skip(message)
    path = Path(history)
    assert path.is_file(), f"KBTC_HISTORY={history} does not exist"

    started = time.monotonic()
    first = _import(path)
    took = time.monotonic() - started
    minutes = Candle.objects.filter(source="binance", interval_s=60)
    assert minutes.count() == REAL_ROWS, first
    assert Candle.objects.filter(source="binance", interval_s=900).count() == REAL_ROWS // 15
    assert f"read {REAL_ROWS} rows" in first
    last = minutes.order_by("-open_time").first()
    assert last is not None
    assert last.open_time == datetime(2026, 3, 31, 23, 59, tzinfo=UTC)

    second = _import(path)

    assert f"0 new 1-minute bars, {REAL_ROWS} already stored, 0 15-minute bars" in second
    assert minutes.count() == REAL_ROWS
    print(f"first import {took:.1f} s; {first.strip()}; {second.strip()}")


async def test_backfill_klines_stores_the_simulators_closed_bars():
    async with running_simulator() as sim:
        now = sim.now()
        end_ms = now - now % 60_000 + 5 * 60_000  # past "now": the open bar must be left out
        start_ms = end_ms - 2_000 * 60_000  # more than one page of 1000
        start = datetime.fromtimestamp(start_ms / 1000, tz=UTC).isoformat()
        end = datetime.fromtimestamp(end_ms / 1000, tz=UTC).isoformat()

        def run() -> None:
            try:
                for _ in range(2):  # the second run finds everything stored
                    call_command(
                        "backfill_klines", "--start", start, "--end", end, "--no-progress",
                        "--base-url", sim.binance_api_url,
                    )  # fmt: skip
            finally:
                connections.close_all()

        await sync_to_async(run, thread_sensitive=False)()
        history = sim.exchange.core.path.history

        def check() -> None:
            try:
                minutes = _stored(60)
                closed_until = now - now % 60_000  # the bar at "now" is still open
                assert len(minutes) == (closed_until - start_ms) // 60_000
                for open_time, o, h, lo, c, _volume, _ticks in minutes[::97]:
                    bar = history.bar(int(open_time.timestamp() * 1000))
                    assert (float(o), float(h), float(lo), float(c)) == (
                        bar.open, bar.high, bar.low, bar.close,
                    )  # fmt: skip
                assert minutes[-1][0].timestamp() * 1000 == closed_until - 60_000
                assert _stored(900)
            finally:
                connections.close_all()

        await sync_to_async(check, thread_sensitive=False)()


# Binance's record has gaps (missing minutes). A page that returns fewer bars than the minutes
# it spans is not the server stopping at "now": every bar it returned is closed unless "now"
# falls inside the range. (minutes in the range, missing minutes as offsets from its start,
# end past "now" by this many minutes)
GAP_CASES = {
    "gap_in_the_last_page": (1_500, range(1_490, 1_495), 0),
    "gap_at_the_end_of_the_last_page": (1_500, range(1_497, 1_500), 0),
    "gap_in_the_only_page": (300, range(100, 110), 0),
    "gap_at_the_start_of_the_first_page": (300, range(0, 7), 0),
    "page_boundary_on_a_gap": (1_300, range(1_000, 1_020), 0),
    "page_boundary_on_a_gap_and_an_open_bar": (1_300, range(1_000, 1_020), 4),
    "gap_just_before_the_open_bar": (300, range(290, 296), 4),
}


@pytest.mark.parametrize(
    ("minutes", "missing", "past_now"), list(GAP_CASES.values()), ids=list(GAP_CASES)
)
async def test_backfill_keeps_every_closed_bar_around_a_gap(minutes, missing, past_now):
    async with running_simulator() as sim:
        now = sim.now()
        closed_until = now - now % 60_000  # bars open before this are closed
        end_ms = closed_until + past_now * 60_000
        start_ms = end_ms - minutes * 60_000
        gone = {start_ms + offset * 60_000 for offset in missing}
        sim.exchange.binance_missing = gone
        expected = [
            ts for ts in range(start_ms, min(end_ms, closed_until), 60_000) if ts not in gone
        ]

        def run():
            try:
                first = backfill(base_url=sim.binance_api_url, start_ms=start_ms, end_ms=end_ms)
                again = backfill(base_url=sim.binance_api_url, start_ms=start_ms, end_ms=end_ms)
                stored = [int(row[0].timestamp() * 1000) for row in _stored(60)]
                return first, again, stored
            finally:
                connections.close_all()

        first, again, stored = await sync_to_async(run, thread_sensitive=False)()

    assert stored == expected
    assert (first.fetched, first.inserted) == (len(expected), len(expected))
    assert (again.fetched, again.inserted) == (len(expected), 0)
