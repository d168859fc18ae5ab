"""A simulated day in live mode: the daemon on the network feeds with the live lane on the
simulator's exchange account, switched to live through the controls service (with its
confirmation), paused at the end so the last position exits or settles. Then the
simulator's account (cash, positions, fills, settlements) and the live lane's stored
trades must agree exactly; the test prints the comparison.

The issue asks for speed 600 (2.4 wall minutes). On this two-core machine, shared with
other jobs, the daemon cannot follow a free-running 600x clock (its books go one-sided and
nothing trades), so the clock is stepped by default (see ``STEP_S``);
``KBTC_LIVE_DAY_STEP_S=0`` runs the free 600x clock. The suite runs 3 simulated hours
(inside the suite's 300 s per-test timeout); ``KBTC_LIVE_DAY_HOURS=24`` with
``--timeout 1800`` runs the whole day.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Sequence

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from kbtc_core.db import db_call
from marketdata.history.backfill import backfill
from marketdata.kalshi.signing import KalshiSigner
from marketdata.model.units import MICROS_PER_CENT
from marketdata.sim.clock import SimClock
from marketdata.sim.testing import running_simulator
from trading.chaos.account import fill_cash, micros
from trading.engine.records import HANDED_OFF, Decision
from trading.models import LivePositionState, OpenPosition, Trade
from trading.runtime.factory import ExchangeEndpoints, build_network_daemon
from trading.runtime.network import NetworkFeed
from trading.runtime.sinks import Observer
from trading.services import controls

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SEED = 7
START = 1_767_225_600_000  # 2026-01-01 00:00 UTC (synthetic path, seed 7)
SPEED = 600
# The daemon cannot follow 600x on a loaded two-core machine (its books go one-sided and it
# stops trading), so by default the clock is stepped STEP_S at a time, each step once the
# stream has caught up: a day as fast as the daemon keeps up. KBTC_LIVE_DAY_STEP_S=0 runs
# the free clock at SPEED instead.
STEP_S = int(os.environ.get("KBTC_LIVE_DAY_STEP_S", "30"))
DAY_S = int(float(os.environ.get("KBTC_LIVE_DAY_HOURS", "3")) * 3600)
OPERATOR = controls.Actor(label="live-day-test", source="task")


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


def free_run(clock: SimClock, speed: float) -> None:
    """Turn the fixture's stepped clock loose at ``speed`` from where it stands."""
    clock.start_ms = clock.now()
    clock._t0 = time.monotonic()
    clock.speed = speed
    clock.stepped = False
    clock.changed.set()


async def until(condition, what: str, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit_s} s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_simulated_day_in_live_mode_matches_the_exchange_account():
    async with running_simulator(seed=SEED, start_ms=START, days=2) as sim:
        await db_call(backfill)(
            base_url=sim.binance_api_url, start_ms=START - 16 * 3600 * 1000, end_ms=START
        )
        endpoints = ExchangeEndpoints(
            kalshi_api_url=sim.kalshi_api_url,
            kalshi_ws_url=sim.kalshi_ws_url,
            coinbase_ws_url=sim.coinbase_ws_url,
            signer=KalshiSigner.from_pem(sim.key_id, sim.private_key_pem),
            wall_clock_ticks=False,
        )
        reasons: Counter[tuple[str, str]] = Counter()

        def observe(event: object, produced: Sequence[object]) -> None:
            for item in produced:
                if isinstance(item, Decision):
                    reasons[(item.lane, item.reason)] += 1

        daemon = await build_network_daemon(
            endpoints=endpoints,
            start_ms=START,
            refresh_s=0.5,
            recorder=False,
            live=True,
            sinks=[Observer(observe)],
        )
        assert daemon.live is not None
        venue = daemon.live.venue
        opening = sim.exchange.clearing.account(sim.key_id).cash
        await db_call(controls.override_set)(name="live_entry_slippage", value=200, actor=OPERATOR)
        await db_call(controls.trading_mode_set)(mode="live", confirm=True, actor=OPERATOR)
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        try:
            # The trader reads the controls (live mode) before the market runs.
            await until(lambda: daemon.controls.trading_mode == "live", "live mode read", 30)
            feed = daemon.feeds[0]
            assert isinstance(feed, NetworkFeed)
            began = time.monotonic()
            if STEP_S:
                # As fast as the daemon keeps up: each step waits for the stream to arrive;
                # while the venue works on an order, one second a step (its REST calls get
                # their wall-time answers at about 1x of simulated time, as on an exchange).
                end = START + DAY_S * 1000
                while sim.now() < end:
                    step = 1 if venue.tasks else STEP_S
                    target = await sim.advance(step)
                    await until(lambda t=target: (feed.latest_ts or 0) >= t - 1000, "stream", 30)
                    if venue.tasks:
                        await asyncio.sleep(0.02)
                    while daemon.writer.pending > 1000:  # noqa: ASYNC110
                        await asyncio.sleep(0.01)
            else:
                free_run(sim.clock, SPEED)
                await until(lambda: sim.now() >= START + DAY_S * 1000, "a simulated day", 400)
            wall_s = time.monotonic() - began
            await db_call(controls.trading_pause_set)(paused=True, actor=OPERATOR)
            session = daemon.session
            assert session is not None
            if sim.clock.stepped:
                # Until the last position has exited or settled (a window at most).
                for _ in range(1200 // STEP_S):
                    live_lane = session.engine.lanes["live"]
                    if venue.state.state == "FLAT" and not venue.tasks and not live_lane.position:
                        break
                    await sim.advance(STEP_S)
                    await asyncio.sleep(0.05)
            await until(
                lambda: (
                    venue.state.state == "FLAT"
                    and not venue.tasks
                    and session.engine.lanes["live"].position is None
                    and not session.engine.lanes["live"].orders
                ),
                "the last live position out",
                60,
            )
            await asyncio.sleep(1)  # the writer's last rows
            bankroll = session.engine.lanes["live"].breaker.bankroll
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)

        account = sim.exchange.clearing.account(sim.key_id)
        stored = await db_call(lambda: list(Trade.objects.filter(lane="live")))()
        # A position the venue took from the lane (an exit that never sold, orphaned) is an
        # errored row with no PnL; its contracts are booked by the orphan's own trade.
        handed_off = [t for t in stored if t.fill_source == HANDED_OFF]
        trades = [t for t in stored if t.fill_source != HANDED_OFF]
        open_rows = await db_call(lambda: OpenPosition.objects.filter(lane="live").count())()
        row = await db_call(LivePositionState.objects.get)(lane="live")

    fills = account.fills
    cash = fill_cash(account)
    bought, sold, fees, revenue = cash.bought, cash.sold, cash.fees, cash.settled
    cash_change = account.cash - opening
    stored_cost = sum(micros(t.entry_cost) for t in trades)
    stored_proceeds = sum(micros(t.exit_proceeds) for t in trades)
    stored_fees = sum(micros(t.fees) for t in trades)
    stored_pnl = sum(micros(t.pnl) for t in trades)
    held = {t: p.position for t, p in account.positions.items() if p.position}
    print(
        f"\nlive day ({f'steps of {STEP_S} s' if STEP_S else f'{SPEED}x'}, {wall_s:.0f} wall s):"
        f" {len(trades)} live trades, {len(fills)} exchange fills,"
        f" {len(account.settlements)} settlements, round trips {venue.state.round_trips}\n"
        f"  entry cost   stored {stored_cost:>14,}  exchange {bought:>14,}\n"
        f"  exit cash    stored {stored_proceeds:>14,}  exchange {sold + revenue:>14,}"
        f" (sold {sold:,} + settled {revenue:,})\n"
        f"  fees         stored {stored_fees:>14,}  exchange {fees:>14,}\n"
        f"  pnl          stored {stored_pnl:>14,}  cash change {cash_change:>14,}\n"
        f"  positions held on the exchange: {held or 'none'}; state {row.state}\n"
        f"  live bankroll {bankroll:,}  account cash {account.cash:,};"
        f" handed off to the orphan path: {[t.exit_reason for t in handed_off]}"
    )
    top = sorted(reasons.items(), key=lambda kv: -kv[1])[:12]
    print(f"  decisions: {top}")
    assert trades, "the live lane traded"
    assert row.state == "FLAT"
    assert open_rows == 0
    assert not held
    assert stored_cost == bought
    assert stored_proceeds == sold + revenue
    assert stored_fees == fees
    assert stored_pnl == cash_change
    assert all(t.quarantined and t.pnl == 0 for t in handed_off)
    # Flat, no orphans: the live bankroll is the cash, as the exchange quotes it (whole cents).
    assert bankroll == account.cash // MICROS_PER_CENT * MICROS_PER_CENT
    assert not [t for t in trades if t.quarantined and "DESYNC" in t.error_reason]
