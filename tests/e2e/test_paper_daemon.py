"""The daemon end to end on PostgreSQL: several simulated hours, restart and replay parity.

Determinism: the test is the only feed. It steps the simulator's core one simulated second
at a time and hands each second's events to ``Daemon.on_event`` in the core's own order,
so two runs consume exactly the same sequence (the network path's interleaving between the
Kalshi and Coinbase sockets does not arise). The recorder journals what was consumed; the
stop comes between two seconds, as SIGTERM's flag is only looked at between events.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from fractions import Fraction

import pytest
from asgiref.sync import sync_to_async

from marketdata.model.events import OwnFill
from marketdata.model.fees import fee_for_fill
from marketdata.model.units import PRICE_MAX
from marketdata.recorder import Recorder, iter_events
from marketdata.sim.core import SimCore
from marketdata.sim.prices import history_candles
from marketdata.sim.stream import history_for
from trading.engine.params import DEFAULT_PARAMS
from trading.engine.records import PositionClosed, trade_list_hash
from trading.models import BotState, Trade
from trading.runtime.daemon import DaemonConfig
from trading.runtime.factory import build_daemon
from trading.runtime.session import new_session, paper_venues
from trading.runtime.sinks import Observer
from trading.venues.base import VenueReport

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SEED = 7
START = 1_767_225_600_000  # 2026-01-01 00:00 UTC (synthetic path, seed 7: trades within 4 h)
HOURS = 4
LATENCY = 200
BANKROLL = 1_000_000_000


def make_core(history):
    return SimCore(seed=SEED, start_ts=START, history=history)


class Run:
    def __init__(self, history):
        self.history = history
        self.outputs = []
        self.fills = {}  # client order id → fills

    def observe(self, event, produced):
        for item in produced:
            self.outputs.append(item)
            if isinstance(item, VenueReport) and isinstance(item.update, OwnFill):
                fill = item.update
                self.fills.setdefault(fill.client_order_id, []).append(
                    (fill.yes_price, fill.count, fill.fee)
                )

    def daemon(self):
        return build_daemon(
            DaemonConfig(latency_ms=LATENCY, bankroll=BANKROLL),
            feeds=[],
            candles=lambda before: history_candles(self.history, before, count=60),
            recorder=Recorder(label="e2e", flush_interval_s=0.05),
            start_ts=START,
            sinks=[Observer(self.observe)],
        )


async def drive(run, core, seconds, *, initial=False):
    """Run one daemon over ``seconds`` simulated seconds, then stop it (SIGTERM path)."""
    daemon = run.daemon()
    await daemon.prepare()
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    if initial:
        for event in core.initial_events():
            daemon.on_event(event)
    for _ in range(seconds):
        for event in core.step():
            daemon.on_event(event)
        # A stepped clock waits for the consumer: let the recorder and the writer keep up,
        # as they do live, where a simulated second lasts a wall second.
        await asyncio.sleep(0)
        while daemon.recorder.buffered > 4000 or daemon.writer.pending > 1000:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    stop.set()
    await task
    assert daemon.errors == 0
    return daemon


async def test_the_daemon_trades_and_its_books_balance_to_the_micro_dollar():
    history = history_for(SEED, START, HOURS * 60)
    run = Run(history)
    await drive(run, make_core(history), HOURS * 3600, initial=True)

    closed = [o for o in run.outputs if isinstance(o, PositionClosed)]
    trades = await sync_to_async(lambda: list(Trade.objects.order_by("closed_at", "id")))()
    assert len(trades) == len(closed) > 0
    total = 0
    for record, trade in zip(closed, trades, strict=True):
        assert trade.position_uid == record.position_uid
        pnl = recompute_pnl(record, run)
        assert Decimal(pnl) / 1_000_000 == trade.pnl
        total += pnl
    state = await sync_to_async(BotState.objects.get)(lane="paper")
    assert state.bankroll == (Decimal(BANKROLL) + total) / 1_000_000


def recompute_pnl(record, run):
    """Net PnL from the fills alone: premium paid and received (price x count), fees per
    order (§6: the order's raw fee rounded up once), settlement at 1 or 0."""
    long = record.direction == "LONG"
    entries, exits = [], []
    # client order ids of this trade: the entry order filled at opened_ts, the exit order
    # (if any) is the ClosePosition carrying this position's uid
    exit_ids = {
        o.client_order_id
        for o in run.outputs
        if getattr(o, "kind", "") == "close_position" and o.position_uid == record.position_uid
    }
    entry_ids = {
        e.update.client_order_id
        for e in run.outputs
        if isinstance(e, VenueReport)
        and isinstance(e.update, OwnFill)
        and e.ts == record.opened_ts
        and e.update.client_order_id not in exit_ids
        and any(
            getattr(o, "kind", "") == "place_order"
            and o.client_order_id == e.update.client_order_id
            for o in run.outputs
        )
    }
    for coid in entry_ids:
        entries.extend(run.fills[coid])
    for coid in exit_ids:
        exits.extend(run.fills.get(coid, []))

    def premium(price):
        return price if long else PRICE_MAX - price

    def order_fees(fills):
        raw, total = Fraction(0), 0
        for price, count, _ in fills:
            fee, raw = fee_for_fill(raw, price, count, is_taker=True)
            total += fee
        return total

    bought = sum(c for _, c, _ in entries)
    sold = sum(c for _, c, _ in exits)
    cost = sum(premium(p) * c for p, c, _ in entries)
    proceeds = sum(premium(p) * c for p, c, _ in exits)
    fees = order_fees(entries) + order_fees(exits)
    if record.reason == "CONTRACT_SETTLED":
        payout = PRICE_MAX if record.exit_yes_price == PRICE_MAX else 0
        proceeds += premium(payout) * (bought - sold)
    return proceeds - cost - fees


async def test_a_restart_at_two_hours_trades_like_the_uninterrupted_run():
    history = history_for(SEED, START, HOURS * 60)
    whole = Run(history)
    events = []
    core = make_core(history)
    events.extend(core.initial_events())
    for _ in range(HOURS * 3600):
        events.extend(core.step())
    session = new_session(
        DEFAULT_PARAMS,
        bankroll=BANKROLL,
        venues=paper_venues(LATENCY),
        warmup=history_candles(history, START, count=60),
    )
    expected = trade_list_hash(session.feed_all(events))

    interrupted = Run(history)
    core = make_core(history)
    await drive(interrupted, core, 2 * 3600, initial=True)
    second = await drive(interrupted, core, (HOURS - 2) * 3600)
    assert second.restored
    assert trade_list_hash(interrupted.outputs) == expected
    del whole

    # replay parity: the journal, fed to a fresh session, trades the same
    replay = new_session(
        DEFAULT_PARAMS,
        bankroll=BANKROLL,
        venues=paper_venues(LATENCY),
        warmup=history_candles(history, START, count=60),
    )
    replayed = replay.feed_all(await sync_to_async(lambda: list(iter_events()))())
    assert trade_list_hash(replayed) == expected
