"""The incident replay suite (domain.md §3.19): the original's incidents, replayed against
the live lane — the Kalshi venue with its real REST client over 127.0.0.1, its reconciler
and an engine lane of kind ``live`` — with the exchange's answers scripted
(``scripted_exchange``): stale positions after a settlement or an exit, every position
query failing, resting orders of a previous run.

Every scenario holds the adoption rules of §3.17.7 to account: replace never add
(BUG-015), the settled set and the 90 s exit cooldown suppress re-adoption and survive a
restart (BUG-008), orphan trades deduplicated.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from trading.models import LiveOrphan, Trade
from trading.runtime.live_safety import _at, record_orphan_close, sync_orphan_rows
from trading.tests.scripted_exchange import (
    T0,
    WINDOW,
    Script,
    ScriptedMarket,
    ScriptedPosition,
    script_rig,
    ticker_at,
)
from trading.venues.live_position import EXIT_COOLDOWN_MS, PositionManagerState
from trading.venues.orphans import check_orphans

T = ticker_at(0)
OTHER = ticker_at(1)


def markets(*tickers: str) -> dict[str, ScriptedMarket]:
    return {
        t: ScriptedMarket(open_ts=T0 + k * WINDOW, close_ts=T0 + (k + 1) * WINDOW)
        for k, t in enumerate(tickers)
    }


def restored(data: dict) -> PositionManagerState:
    """What a restart finds: the last persisted row, through the §3.17.8 restore rules."""
    return PositionManagerState.from_dict(data)


# --- 1. settlement verify failure (trades 451/454) -----------------------------------------


async def test_1_settlement_with_every_position_query_failing_books_the_trade_and_no_orphan():
    script = Script(markets=markets(T))
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        await rig.enter(T, "no", 2500, 100)  # short 1 @ 25 ¢
        assert rig.state.state == "OPEN"
        assert script.positions[T].signed == -100
        script.positions_fail = True
        rig.clock.forward(13 * 60)  # past the close
        script.markets[T].status, script.markets[T].result = "determined", "no"
        await rig.status(T, "determined", "no")
        [closed] = rig.closed()
        assert closed.pnl > 0  # NO won: $1 for a 75 ¢ premium
        assert closed.reason == "CONTRACT_SETTLED"
        state = rig.state
        assert state.state == "FLAT"
        assert state.position is None
        assert state.orphans == {}
        assert T in state.settled_tickers
        assert state.cooldowns[T] >= rig.now() + EXIT_COOLDOWN_MS - 10_000
        assert state.round_trips == 1
        # The next reconciliation still sees the stale −1: no orphan.
        script.positions_fail = False
        report = await rig.reconciler.reconcile("periodic")
        assert report.ok
        assert rig.state.orphans == {}
        saved = rig.saved[-1]
    # Snapshot → restore (cooldown long over) → reconcile: still no orphan.
    async with script_rig(script, state=restored(saved), start_ms=T0 + WINDOW + 600_000) as rig:
        assert T in rig.state.settled_tickers
        assert (await rig.reconciler.start()).ok
        assert rig.state.orphans == {}
        assert rig.state.state == "FLAT"


# --- 2. phantom accumulation (BUG-015, trade 431) -------------------------------------------


@pytest.mark.parametrize("cycles", [70, 200])
async def test_2_repeated_reconciliation_adopts_one_orphan_with_the_exchange_count(cycles):
    script = Script(markets=markets(T), positions={T: ScriptedPosition(600, cost=600 * 4000)})
    async with script_rig(script) as rig:
        for _ in range(cycles):
            assert (await rig.reconciler.reconcile("periodic")).ok
            rig.clock.forward(1)
        assert list(rig.state.orphans) == [T]
        assert rig.state.orphans[T].signed == 600
        assert rig.state.orphans[T].cost == 600 * 4000
        # Direct re-adoption with a different count replaces it, never adds.
        rig.state.adopt_orphan(T, 400, "RECONCILE", rig.now())
        assert rig.state.orphans[T].signed == 400
        # ... and the exchange's count comes back on the next pass.
        await rig.reconciler.reconcile("periodic")
        assert rig.state.orphans[T].signed == 600
        # The orphan blocks entries, with the reason.
        assert "orphans held" in rig.state.entry_refusal(OTHER, rig.now(), None)


# --- 3. restart wipes settled tickers --------------------------------------------------------


async def test_3_settled_tickers_survive_a_restart_and_suppress_adoption():
    settled = [ticker_at(k) for k in range(3)]
    script = Script(
        markets=markets(*settled),
        positions={t: ScriptedPosition(1200, cost=1200 * 5000) for t in settled},
    )
    before = PositionManagerState(settled_tickers=list(settled))
    after = restored(before.to_dict())
    assert after.settled_tickers == settled  # every settled ticker round-trips
    async with script_rig(script, state=after, start_ms=T0 + 3 * WINDOW) as rig:
        assert (await rig.reconciler.start()).ok
        assert rig.state.orphans == {}
        assert rig.state.state == "FLAT"
    # Control: the same stale positions with an empty settled set are adopted.
    async with script_rig(script, start_ms=T0 + 3 * WINDOW) as rig:
        assert (await rig.reconciler.start()).ok
        assert sorted(rig.state.orphans) == sorted(settled)
        assert all(o.signed == 1200 for o in rig.state.orphans.values())


# --- 4. exit cooldown race -------------------------------------------------------------------


async def test_4_a_stale_position_just_after_an_exit_is_not_adopted_until_the_cooldown_ends():
    script = Script(markets=markets(T))
    script.markets[T].yes_bids = [(4000, 100_000)]
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        await rig.enter(T, "yes", 4200, 200)
        assert rig.state.state == "OPEN"
        rig.clock.forward(30)
        await rig.exit("TIME_EXIT")
        assert rig.state.state == "FLAT"  # the exit verified flat ...
        script.positions[T] = ScriptedPosition(200, cost=200 * 4200)  # ... then a stale read
        await rig.reconciler.reconcile("periodic")
        assert rig.state.orphans == {}
        # 200 s later the cooldown is over: the same position is adopted.
        rig.clock.forward(200)
        await rig.reconciler.reconcile("periodic")
        assert rig.state.orphans[T].signed == 200


async def test_4b_a_settlement_starts_the_cooldown_too():
    script = Script(markets=markets(T))
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        await rig.enter(T, "yes", 4200, 200)
        rig.clock.forward(13 * 60)
        script.markets[T].status, script.markets[T].result = "determined", "yes"
        script.positions[T] = ScriptedPosition(0)  # the settlement verified flat
        await rig.status(T, "determined", "yes")
        assert rig.state.state == "FLAT"
        assert rig.state.cooldowns[T] > rig.now()
        script.positions[T] = ScriptedPosition(200)  # then a stale listing
        rig.state.settled_tickers.clear()  # only the cooldown stands in the way
        await rig.reconciler.reconcile("periodic")
        assert rig.state.orphans == {}


# --- 5. full lifecycle -----------------------------------------------------------------------


async def test_5_hold_settle_with_verify_failure_restart_and_reconcile_a_stale_position():
    script = Script(markets=markets(T))
    async with script_rig(script) as rig:
        assert (await rig.reconciler.start()).ok
        await rig.enter(T, "no", 2500, 500)  # short 5 @ 25 ¢
        assert rig.state.position is not None
        assert rig.state.position.signed == -500
        script.positions_fail = True
        rig.clock.forward(13 * 60)
        script.markets[T].status, script.markets[T].result = "finalized", "no"
        await rig.status(T, "finalized", "no")
        assert rig.closed()[-1].pnl > 0
        saved = rig.saved[-1]
    script.positions_fail = False
    assert script.positions[T].signed == -500  # stale
    async with script_rig(script, state=restored(saved), start_ms=T0 + WINDOW + 30_000) as rig:
        assert (await rig.reconciler.start()).ok
        assert rig.state.orphans == {}
        assert rig.state.state == "FLAT"


# --- 6. orphan-to-trade dedup ------------------------------------------------------------------


@pytest.fixture
async def _orm_threads():
    yield
    await sync_to_async(connections.close_all)()


async def _settled_orphan_close(script: Script, rig) -> list:
    script.markets[T].status, script.markets[T].result = "determined", "yes"
    return await check_orphans(rig.venue)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_orm_threads")
@pytest.mark.parametrize(("minutes_ago", "inserted"), [(2, False), (6, True)])
async def test_6_an_orphan_close_is_not_booked_over_a_live_trade_of_the_last_5_minutes(
    minutes_ago, inserted
):
    script = Script(markets=markets(T), positions={T: ScriptedPosition(300, cost=300 * 4000)})
    async with script_rig(script, start_ms=T0 + WINDOW + 60_000) as rig:
        await rig.reconciler.reconcile("periodic")
        assert rig.state.orphans[T].signed == 300
        await sync_to_async(sync_orphan_rows)("live", dict(rig.state.orphans), rig.now())
        now = rig.now()
        live_trade = await sync_to_async(_live_trade)(now - minutes_ago * 60_000)
        [close] = await _settled_orphan_close(script, rig)
        assert close.reason == "ORPHAN_SETTLED"
        assert close.proceeds == 300 * 10_000  # YES won: $1 a contract
        assert close.pnl == 300 * 10_000 - 300 * 4000
        trade = await sync_to_async(record_orphan_close)("live", close)
        assert (trade is not None) is inserted
        await sync_to_async(sync_orphan_rows)("live", dict(rig.state.orphans), rig.now())
        rows = await sync_to_async(lambda: list(Trade.objects.filter(ticker=T)))()
        assert len(rows) == (2 if inserted else 1)
        assert any(r.position_uid == live_trade.position_uid for r in rows)
        orphan_row = await sync_to_async(LiveOrphan.objects.get)(ticker=T)
        assert orphan_row.closed_at is not None
        assert orphan_row.close_reason.startswith("ORPHAN_SETTLED")
        if trade is not None:
            assert trade.pnl == Decimal("1.800000")
            assert trade.exit_reason == "ORPHAN_SETTLED"
        assert rig.state.orphans == {}
        assert T in rig.state.settled_tickers


def _live_trade(closed_ms: int) -> Trade:
    at = _at(closed_ms)
    return Trade.objects.create(
        lane="live",
        ticker=T,
        direction="long",
        entry_price=Decimal("0.4"),
        exit_price=Decimal("1"),
        opened_at=at - timedelta(minutes=5),
        closed_at=at,
        contracts=Decimal(3),
        entry_cost=Decimal("1.2"),
        exit_proceeds=Decimal("3"),
        fees=Decimal("0"),
        pnl=Decimal("1.8"),
        pnl_pct=1.5,
        exit_reason="CONTRACT_SETTLED",
        position_uid=f"live-{closed_ms}",
    )
