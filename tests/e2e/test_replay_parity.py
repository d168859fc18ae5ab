"""A paper daemon against the simulator, then ``manage.py replay_parity`` on its journal.

The daemon warms up on the candles table (as ``run_trader`` does), so the table is filled
first with the simulator's own minute bars before the start. The parity command replays the
journal through the backtester's driver and compares the signal log and the trades with
what the daemon wrote: identical; then one stored trade and one stored decision are altered
and the command names the first difference and exits non-zero.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command

from marketdata.history.klines import Kline
from marketdata.history.store import klines_store
from marketdata.recorder import Recorder
from marketdata.sim.core import SimCore
from marketdata.sim.stream import history_for
from trading.models import Decision, Trade
from trading.runtime.daemon import Daemon, DaemonConfig
from trading.runtime.warmup import table_candles

from .conftest import BANKROLL, LATENCY, SEED, START

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HOURS = 2


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _fill_candles_table(history) -> None:
    bars = history.range(START - 86_400_000, START)
    klines_store(
        Kline(_iso(b.ts), repr(b.open), repr(b.high), repr(b.low), repr(b.close), repr(b.volume))
        for b in bars
    )


async def _run_daemon(history) -> Daemon:
    core = SimCore(seed=SEED, start_ts=START, history=history)
    recorder = Recorder(label="parity", flush_interval_s=0.05)
    daemon = Daemon(
        DaemonConfig(latency_ms=LATENCY, bankroll=BANKROLL),
        feeds=[],
        candles=lambda before: table_candles(before, count=60),
        recorder=recorder,
        start_ts=START,
    )
    await daemon.prepare()
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    for event in core.initial_events():
        daemon.on_event(event)
    for _ in range(HOURS * 3600):
        for event in core.step():
            daemon.on_event(event)
        await asyncio.sleep(0)
        while recorder.buffered > 4000 or daemon.writer.pending > 1000:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    stop.set()
    await task
    assert daemon.errors == 0
    return daemon


def _parity() -> str:
    out = io.StringIO()
    call_command(
        "replay_parity",
        "--from", "2026-01-01T00:00", "--to", "2026-01-01T03:00",
        "--bankroll", str(BANKROLL / 1_000_000), "--latency-ms", str(LATENCY),
        stdout=out,
    )  # fmt: skip
    return out.getvalue()


async def test_a_paper_session_replays_identically_and_a_changed_row_is_named():
    history = history_for(SEED, START, HOURS * 60)
    await sync_to_async(_fill_candles_table)(history)
    await _run_daemon(history)
    trades = await sync_to_async(Trade.objects.count)()
    assert trades > 0

    report = await sync_to_async(_parity)()
    assert report.strip().endswith("events replayed)")
    assert "identical" in report
    lines = report.splitlines()
    assert lines[0].startswith("decisions: ")
    assert " = stored " in lines[0]
    assert lines[1].startswith(f"trades: {trades} replayed, {trades} stored")

    def alter_second_trade():
        trade = Trade.objects.order_by("closed_at", "id")[1 if trades > 1 else 0]
        Trade.objects.filter(pk=trade.pk).update(pnl=trade.pnl + Decimal("0.01"))
        return 2 if trades > 1 else 1

    row = await sync_to_async(alter_second_trade)()
    with pytest.raises(
        CommandError, match=rf"replay differs from the store: trades row {row}: replay .*\"pnl\""
    ):
        await sync_to_async(_parity)()

    def drop_a_decision():
        Decision.objects.filter(pk=Decision.objects.order_by("ts", "id")[3].pk).delete()

    await sync_to_async(drop_a_decision)()
    with pytest.raises(CommandError, match=r"replay differs from the store: decisions row 4"):
        await sync_to_async(_parity)()
