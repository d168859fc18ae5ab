"""The Kalshi venue against the exchange simulator over real sockets (issue #21 "Done when").

Each test runs the simulator on a stepped clock, the venue on its REST endpoints with the
authenticated fill stream from its WebSocket, and an engine lane of kind ``live`` booking
the venue's reports; the simulator's account ledger is the truth the results are held to.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from marketdata.model.units import MICROS_PER_DOLLAR
from trading.models import LivePositionState, LiveTradeCheck, Trade
from trading.runtime.live import load_live_state
from trading.tests.live_harness import LiveRig, live_rig
from trading.venues.base import VenueReport
from trading.venues.kalshi import LiveSettings, expiry_floor_cents

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


def ledger(rig: LiveRig, ticker: str) -> dict[str, int]:
    """The simulator's own account of a round trip on ``ticker``: cash paid for the
    entry, received for the exit, fees, and the orders it saw."""
    fills = [f for f in rig.account.fills if f.ticker == ticker]
    out = {"cost": 0, "proceeds": 0, "fees": 0, "orders": len({f.order_id for f in fills})}
    for f in fills:
        # The position's side: the first fill opened it.
        held_yes = fills[0].book_side == "bid"
        buying = (f.book_side == "bid") == held_yes
        premium = f.yes_price if held_yes else 10_000 - f.yes_price
        if buying:
            out["cost"] += premium * f.count
        else:
            out["proceeds"] += premium * f.count
        out["fees"] += f.fee
    return out


async def test_a_live_round_trip_books_what_the_exchange_booked():
    async with live_rig() as rig:
        market = await rig.market()
        _bid, ask = await rig.best(market.ticker)
        balance_before = rig.account.available
        rig.enter(market.ticker, "yes", ask + 200, 300)
        await rig.until(lambda: rig.venue.state.state == "OPEN" and rig.idle(), "entry open")
        position = rig.venue.state.position
        assert position is not None
        assert position.count == 300
        assert position.fill_source == "fill_ws"  # from the authenticated stream
        assert rig.lane.position is not None
        assert rig.lane.position.count == 300
        await rig.step(5)
        rig.exit("TIME_EXIT")
        await rig.until(lambda: rig.venue.state.state == "FLAT" and rig.idle(), "exit done")
        [closed] = rig.closed()
        truth = ledger(rig, market.ticker)
        print(
            f"\nlive round trip on {market.ticker}: engine cost {closed.cost} proceeds "
            f"{closed.proceeds} fees {closed.fees} pnl {closed.pnl}; simulator ledger {truth}"
        )
        assert truth["orders"] == 2
        assert closed.cost == truth["cost"]
        assert closed.proceeds == truth["proceeds"]
        assert closed.fees == truth["fees"]
        assert closed.pnl == truth["proceeds"] - truth["cost"] - truth["fees"]
        # The wallet moved by exactly the PnL (to the cent the balance is quoted in).
        assert rig.account.available - balance_before == closed.pnl
        assert rig.venue.state.round_trips == 1
        await rig.store_trade()
        trade = await sync_to_async(Trade.objects.get)(position_uid=closed.position_uid)
        assert trade.lane == "live"
        assert trade.entry_cost == Decimal(truth["cost"]) / MICROS_PER_DOLLAR
        assert trade.exit_proceeds == Decimal(truth["proceeds"]) / MICROS_PER_DOLLAR
        assert trade.fees == Decimal(truth["fees"]) / MICROS_PER_DOLLAR
        check = await sync_to_async(LiveTradeCheck.objects.get)()
        assert check.flagged == ""
        assert check.drift is not None
        assert check.drift <= Decimal("0.01")
        # Every transition was written down: the row restores to what the venue holds.
        row = await sync_to_async(LivePositionState.objects.get)(lane="live")
        assert row.state == "FLAT"
        restored = await sync_to_async(load_live_state)("live")
        assert restored.round_trips == 1
        assert restored.position is None


async def test_an_unfilled_entry_goes_flat_with_a_cooldown():
    async with live_rig() as rig:
        market = await rig.market()
        bid, ask = await rig.best(market.ticker)
        # A limit far below the ask: the IOC order cannot fill.
        intent = rig.enter(market.ticker, "yes", max(100, bid - 1000), 100)
        await rig.until(lambda: rig.idle() and not rig.lane.orders, "entry ended")
        assert rig.venue.state.state == "FLAT"
        assert rig.lane.position is None
        assert market.ticker in rig.venue.state.cooldowns
        # A second entry on the same ticker is refused while the cooldown runs.
        rig.enter(market.ticker, "yes", ask + 200, 100)
        refused = [
            r for r in rig.outputs if isinstance(r, VenueReport) and r.reason.startswith("refused")
        ]
        assert refused
        assert "cooldown" in refused[-1].reason
        assert intent.client_order_id not in rig.lane.orders


def test_the_expiry_floor_schedule():
    settings = LiveSettings(expiry_first_floor_cents=5, expiry_widen_step_cents=2)
    assert [expiry_floor_cents(settings, k) for k in range(3)] == [5, 3, 1]
    assert [expiry_floor_cents(LiveSettings(), k) for k in range(3)] == [1, 1, 1]
