"""The live daemon (``build_network_daemon(live=True)``) against the simulator: its start
reconciliation finds what a previous run left on the account (a resting order, a filled
position), cancels the order, adopts the position as an orphan that the health report and
the ``LiveOrphan`` rows show with its exposure, and reconciles again when the Kalshi socket
reconnects."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from kbtc_core.db import db_call
from marketdata.kalshi.rest import KalshiRestClient, TimeInForce
from marketdata.kalshi.signing import KalshiSigner
from marketdata.model.units import MICROS_PER_DOLLAR
from marketdata.sim.testing import running_simulator
from trading.models import LiveOrphan, LivePositionState
from trading.runtime.factory import ExchangeEndpoints, build_network_daemon
from trading.runtime.live_safety import LiveSafetySink

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

START = 1_767_225_600_000 + 2 * 60_000  # 2026-01-01 00:02 UTC


async def until(condition, what: str, limit_s: float = 20.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit_s} s waiting for {what}")
        await asyncio.sleep(0.01)


async def test_the_live_daemon_reconciles_at_start_and_after_a_reconnect():
    async with running_simulator(seed=7, start_ms=START) as sim:
        signer = KalshiSigner.from_pem(sim.key_id, sim.private_key_pem)
        async with KalshiRestClient(sim.kalshi_api_url, signer) as rest:
            markets = await rest.list_markets(series_ticker="KXBTC15M", status="open")
            market = next(m for m in markets if m.contains(sim.now()))
            book = await rest.get_orderbook(market.ticker)
            ask = 10_000 - max(book.no)[0]
            orders: list[tuple[str, int, TimeInForce]] = [
                ("previous-resting", 100, "good_till_canceled"),
                ("previous-filled", ask + 200, "immediate_or_cancel"),
            ]
            for coid, price, tif in orders:
                await rest.create_order(
                    ticker=market.ticker,
                    book_side="bid",
                    yes_price=price,
                    count=200,
                    time_in_force=tif,
                    client_order_id=coid,
                )
        account = sim.exchange.clearing.account(sim.key_id)
        cost = account.position(market.ticker).cost
        assert account.position(market.ticker).position == 200
        endpoints = ExchangeEndpoints(
            kalshi_api_url=sim.kalshi_api_url,
            kalshi_ws_url=sim.kalshi_ws_url,
            coinbase_ws_url=sim.coinbase_ws_url,
            signer=signer,
            wall_clock_ticks=False,
        )
        daemon = await build_network_daemon(
            endpoints=endpoints, start_ms=sim.now(), refresh_s=0.5, recorder=False, live=True
        )
        [safety] = [s for s in daemon.sinks if isinstance(s, LiveSafetySink)]
        reconciler = safety.reconciler
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        try:
            for _ in range(30):
                await sim.advance(1)
                await asyncio.sleep(0.02)
                if reconciler.passed and market.ticker in reconciler.venue.state.orphans:
                    break
            health = daemon.health_payload()["live_reconcile"]
            assert health["passed"] is True
            [orphan] = health["orphans"]
            assert orphan["ticker"] == market.ticker
            assert orphan["contracts"] == 2.0
            assert orphan["exposure"] == cost / MICROS_PER_DOLLAR
            engine = sim.exchange.engine
            [resting] = [
                o for o in engine.orders.values() if o.client_order_id == "previous-resting"
            ]
            assert resting.status == "canceled"
            row = await db_call(LiveOrphan.objects.get)(ticker=market.ticker, closed_at=None)
            assert row.exposure == Decimal(cost) / MICROS_PER_DOLLAR
            state = await db_call(LivePositionState.objects.get)(lane="live")
            assert market.ticker in state.data["orphans"]
            # The Kalshi socket drops and reconnects: a reconciliation follows.
            sim.set_faults(ws_drop=1.0)
            for _ in range(3):
                await sim.advance(1)
                await asyncio.sleep(0.05)
            sim.set_faults(ws_drop=0.0)
            for _ in range(30):
                await sim.advance(1)
                await asyncio.sleep(0.05)
                if any("reconnect" in r.why for r in reconciler.reports):
                    break
            assert any("reconnect" in r.why and r.ok for r in reconciler.reports)
            assert list(reconciler.venue.state.orphans) == [market.ticker]
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
