import json

import pytest

from marketdata.model.events import (
    ClockTick,
    MarketStatus,
    OrderUpdate,
    OwnFill,
    PublicTrade,
    SpotTrade,
)
from marketdata.sim.stream import generate_events
from trading.engine.engine import Engine
from trading.engine.entry import size_mult
from trading.engine.intents import (
    BalanceSync,
    CancelOrder,
    ClosePosition,
    OrderRestored,
    PlaceOrder,
    PositionCorrection,
    PositionSettled,
)
from trading.engine.lane import Position
from trading.engine.market import MarketState
from trading.engine.params import DEFAULT_PARAMS, ParamError
from trading.engine.records import (
    HANDED_OFF,
    BreakerChanged,
    CandleClosed,
    FeaturesCaptured,
    LaneStatus,
    OrderDone,
    PositionClosed,
    PositionOpened,
    PositionUpdated,
    RegimeChanged,
)
from trading.engine.sizing import conviction_mult
from trading.runtime.session import Session
from trading.tests.engine.factories import (
    LONG_NO,
    LONG_YES,
    SHORT_NO,
    SHORT_YES,
    T0,
    WINDOW_MS,
    Scenario,
    candle,
    closed,
    decisions,
    done,
    engine_outputs,
    fill,
    of,
    position_of,
    snapshot,
    status,
    ticker_at,
)
from trading.venues.paper import PaperVenue

P = DEFAULT_PARAMS


def entered(scenario, out=None):
    out = scenario.enter_long() if out is None else out
    orders = of(out, PlaceOrder)
    assert len(orders) == 2
    scenario.fill_all(orders)
    return orders


def test_it_enters_long_on_three_obi_readings_and_records_every_rule():
    s = Scenario()
    out = s.enter_long()
    first = decisions(out)
    assert [d.reason for d in first] == ["NO_SIGNAL", "NO_SIGNAL", "ENTRY"]
    entry = first[-1]
    assert (entry.direction, entry.conviction, entry.driver, entry.count) == (
        "LONG",
        "NORMAL",
        "OBI",
        4000,
    )
    names = [name for name, _ in entry.rules]
    assert names == [
        "contract",
        "near_expiry",
        "book_health",
        "reentry_cooldown",
        "breaker",
        "obi",
        "roc",
        "spread",
        "resolver",
        "tfi",
        "low_conviction",
        "short_trend",
        "price_guard",
        "sizing",
        "paused",
    ]
    order = of(out, PlaceOrder)[0]
    assert (order.side, order.yes_price, order.count) == ("yes", 5000, 4000)
    json.dumps(entry.to_dict())


def test_a_position_exists_only_once_filled():
    s = Scenario()
    out = s.enter_long()
    assert s.engine.lanes["paper"].position is None
    order = of(out, PlaceOrder)[0]
    ended = done(s.engine, "paper", order.client_order_id)
    assert ended == [OrderDone(s.now, "paper", order.client_order_id, "entry", 4000, 0)]
    assert s.engine.lanes["paper"].position is None
    fills = fill(
        s.engine,
        "live",
        of(out, PlaceOrder)[1].client_order_id,
        [(5000, 1000, 10_000), (5000, 3000, 20_000)],
    )
    opened = of(fills, PositionOpened)[0]
    assert (opened.count, opened.entry_yes_price, opened.cost, opened.fees) == (
        1000,
        5000,
        5_000_000,
        10_000,
    )
    assert of(fills, PositionUpdated)[0].count == 4000
    features = of(fills, FeaturesCaptured)[0].features
    assert set(features) >= {
        "obi",
        "roc_3",
        "roc_5",
        "roc_10",
        "atr_pct",
        "spread_pct",
        "bid_depth",
        "ask_depth",
        "time_remaining_sec",
        "hour_of_day",
        "day_of_week",
        "quoted_spread_at_entry_bps",
        "book_thickness_at_offer",
    }
    assert features["bid_depth"] == 150_000
    assert features["day_of_week"] == 3  # Thursday
    json.dumps([o.to_dict() for o in fills])


def test_unknown_fills_and_done_reports_are_ignored():
    s = Scenario()
    assert fill(s.engine, "paper", "nope", [(5000, 100, 0)]) == []
    assert done(s.engine, "paper", "nope") == []


def test_stop_loss_fires_on_the_mark_only_after_min_hold():
    s = Scenario()
    entered(s)
    ticker = ticker_at(T0)
    s.delta(ticker, "yes", 4950, 10_000)  # best bid 49.5 ¢, ask 50 ¢: mark 49.75 ¢, −0.5 %
    s.tick(116)  # entry was at T0+3 s; now T0+119 s
    s.delta(ticker, "yes", 4950, -10_000)  # bid back to 48 ¢: mark 49 ¢, −2 %, but held 116 s
    assert not of(s.outputs, ClosePosition)
    s.delta(ticker, "yes", 4950, 10_000)
    s.tick(4)  # held exactly 120 s
    out = s.delta(ticker, "yes", 4950, -10_000)
    exits = of(out, ClosePosition)
    assert [(e.lane, e.reason, e.side, e.yes_price, e.count) for e in exits] == [
        ("paper", "STOP_LOSS", "yes", 100, 4000),
        ("live", "STOP_LOSS", "yes", 100, 4000),
    ]
    result = s.fill_at(exits, 4800, fee=10_000)
    trade = closed(result)[0]
    assert (trade.reason, trade.entry_yes_price, trade.exit_yes_price) == ("STOP_LOSS", 5000, 4800)
    assert trade.pnl == (4800 - 5000) * 4000 - 10_000
    assert s.engine.lanes["paper"].breaker.bankroll == 1_000_000_000 + trade.pnl
    assert s.engine.lanes["paper"].position is None


def tight_long(s, *, enter_at_ms=None):
    """Enter both lanes long on a tight bid-heavy book (bid 49.9 ¢, ask 50 ¢: mark −0.1 %),
    the entry filling at 50 ¢ at ``enter_at_ms`` after T0 (default: when decided)."""
    out = s.enter_long()
    s.feed(snapshot(s.now, ticker_at(T0), ((4990, 150_000),), ((5000, 50_000),)))
    if enter_at_ms is not None:
        s.feed(SpotTrade(ts=T0 + enter_at_ms, price=90000.0, size=0.1))
    s.fill_all(of(out, PlaceOrder))
    return ticker_at(T0)


@pytest.mark.parametrize(
    ("bid", "ask", "stops"),
    [
        (4800, 5000, True),  # mark 49 ¢: exactly −2 % of the 50 ¢ premium
        (4790, 5000, True),  # one tick (0.1 ¢) lower: mark 48.95 ¢
        (4810, 5000, False),  # one tick higher: mark 49.05 ¢, −1.9 %
        (4600, 5200, True),  # a 6 ¢ spread around the same 49 ¢ mark
        (4610, 5200, False),
    ],
)
def test_the_stop_is_judged_on_the_mark_one_tick_either_side(bid, ask, stops):
    s = Scenario(lanes=("paper",))
    ticker = tight_long(s)
    s.tick(120)  # past min_hold_s
    assert not of(s.outputs, ClosePosition)
    out = s.feed(snapshot(s.now, ticker, ((bid, 150_000),), ((10_000 - ask, 50_000),)))
    assert [e.reason for e in of(out, ClosePosition)] == (["STOP_LOSS"] if stops else [])
    if stops:  # judged on the mark, executed at the executable price (the bid, IOC)
        trade = closed(s.fill_at(of(out, ClosePosition), bid))[0]
        assert (trade.exit_yes_price, trade.pnl) == (bid, (bid - 5000) * 4000)


def test_a_wide_spread_with_an_unchanged_mid_does_not_stop_out():
    s = Scenario(lanes=("paper",))
    ticker = tight_long(s)
    # bid 40 ¢, ask 59.8 ¢: the executable bid is −20 %, the mark (49.9 ¢) still −0.2 %
    s.feed(snapshot(s.now, ticker, ((4000, 150_000),), ((4020, 50_000),)))
    out = s.tick(300)
    assert not of(s.outputs, ClosePosition)
    telemetry = [u for u in of(out, PositionUpdated) if u.reason == "telemetry"][-1]
    assert telemetry.exit_yes_price == 4000
    assert telemetry.pnl_frac == pytest.approx(-0.002)
    position = position_of(s.engine)
    assert (position.mae, position.mfe) == (pytest.approx(-0.002), pytest.approx(-0.002))


def test_no_stop_without_a_mark_while_one_side_is_empty():
    s = Scenario(lanes=("paper",))
    ticker = tight_long(s)
    s.tick(120)
    out = s.feed(snapshot(s.now, ticker, ((4000, 150_000),), ()))  # no asks: no mid
    assert not of(out, ClosePosition)
    out = s.feed(snapshot(s.now, ticker, ((4000, 150_000),), ((5000, 50_000),)))  # mark 45 ¢
    assert [e.reason for e in of(out, ClosePosition)] == ["STOP_LOSS"]


def spot_path(s, prices):
    """One spot print per second (a clock tick each) at the given prices."""
    out = []
    for price in prices:
        out += s.tick(1, spot=price)
    return out


@pytest.mark.parametrize(("enter_at_ms", "reverses_at_360"), [(180_000, True), (180_001, False)])
def test_an_exit_candle_that_opened_before_the_entry_is_not_read(enter_at_ms, reverses_at_360):
    """The exit candle [180 s, 360 s) is red. Entered at 180 s it is a candle of the hold
    and CANDLE_REVERSAL reads it when it closes; entered 1 ms later it opened before the
    entry and is never read (the next red candle, closing at 540 s, is)."""
    s = Scenario(lanes=("paper",))
    s.open_contract(T0 + 177_000, yes=((4990, 150_000),), spot=90000.0)
    spot_path(s, [90000.0] * 2)
    s.now = T0 + 179_000
    out = s.tick(1)  # the third OBI reading at 180 s: the entry is decided
    if enter_at_ms > 180_000:
        s.feed(SpotTrade(ts=T0 + enter_at_ms, price=90000.0, size=0.1))
    s.fill_all(of(out, PlaceOrder))
    assert position_of(s.engine).opened_ts == T0 + enter_at_ms
    spot_path(s, [90000.0 - i for i in range(1, 180)])  # [180 s, 360 s): red, −0.2 ‰
    out = spot_path(s, [89800.0])  # 360 s: that candle closes
    assert bool(of(out, ClosePosition)) is reverses_at_360
    if not reverses_at_360:
        spot_path(s, [89800.0 - i for i in range(1, 180)])  # [360 s, 540 s): red too
        spot_path(s, [89600.0])  # 540 s: it closes
        assert [e.reason for e in of(s.outputs, ClosePosition)] == ["CANDLE_REVERSAL"]
        assert of(s.outputs, ClosePosition)[0].ts == T0 + 540_000


def test_momentum_stall_on_exit_candles_of_the_hold():
    """ROC(3) of the exit candles at the entry: +0.23 % (four rising candles before it).
    After two flat candles of the hold it is +0.075 %, under half, but the stall waits for
    three candles of the hold; after the third it is 0."""
    params = P.with_overrides({"roc_max_hold_s": 3600, "obi_max_hold_s": 3600})
    s = Scenario(params, lanes=("paper",))
    rising = [89730.0 + 67.5 * (k + i / 179) for k in range(4) for i in range(180)]
    s.now = T0 - 721_000
    spot_path(s, rising[:717])  # [−720 s, −3 s)
    s.open_contract(T0 - 3000, yes=((4990, 150_000),), spot=rising[717])
    out = spot_path(s, [*rising[718:], 90000.0])  # entry decided at T0 (an exit candle close)
    s.fill_all(of(out, PlaceOrder))
    position = position_of(s.engine)
    assert position.opened_ts == T0
    assert position.entry_exit_roc == pytest.approx((90000 - 89797.5) / 89797.5 * 100)
    spot_path(s, [90000.0] * 539)
    assert not of(s.outputs, ClosePosition)
    assert s.engine.market.exit_roc() == pytest.approx((90000 - 89932.5) / 89932.5 * 100)
    out = spot_path(s, [90000.0])  # 540 s: the third candle of the hold closes
    assert [e.reason for e in of(out, ClosePosition)] == ["MOMENTUM_STALL"]


def test_volatility_spike_on_an_exit_candle_of_the_hold():
    s = Scenario(lanes=("paper",))
    tight_long(s)
    # [180 s, 360 s): up 0.25 % and back, a range above 0.5 % × √(180 / 900) ≈ 0.224 %
    path = [90000.0] * (180 - 3 - 1) + [90225.0, 90000.0] + [90000.0] * 179
    out = spot_path(s, path)
    assert [e.reason for e in of(out, ClosePosition)] == ["VOLATILITY_SPIKE"]
    assert of(out, ClosePosition)[0].ts == T0 + 360_000


def test_a_partial_exit_keeps_the_reason_and_retries():
    s = Scenario()
    entered(s)
    exits = of(s.engine.close_all(), ClosePosition)
    assert [e.reason for e in exits] == ["EMERGENCY_STOP", "EMERGENCY_STOP"]
    paper = exits[0]
    fill(s.engine, "paper", paper.client_order_id, [(4800, 1000, 0)])
    done(s.engine, "paper", paper.client_order_id)
    assert position_of(s.engine).count == 3000
    out = s.tick(1)
    retry = [e for e in of(out, ClosePosition) if e.lane == "paper"]
    assert [(e.reason, e.count) for e in retry] == [("EMERGENCY_STOP", 3000)]
    res = s.fill_at(retry, 4900)
    trade = closed(res)[0]
    assert trade.exit_yes_price == 4875  # (4800 × 1000 + 4900 × 3000) / 4000
    assert trade.pnl == -200 * 1000 - 100 * 3000


def test_pause_stops_new_entries_on_every_lane_but_not_exits():
    s = Scenario()
    s.engine.set_controls(paused=True)
    out = s.enter_long()
    assert not of(out, PlaceOrder)
    assert decisions(out, "live")[-1].reason == "PAUSED"
    s.engine.set_controls(paused=False)
    entered(s, s.tick(1))
    s.engine.set_controls(paused=True)
    assert of(s.engine.close_all(), ClosePosition)


def test_settlement_only_uses_the_positions_own_contract():
    """§11.1: a result left over from an earlier contract never settles a later position."""
    s = Scenario(lanes=("paper",))
    first = ticker_at(T0 - WINDOW_MS)
    s.feed(
        MarketStatus(
            ts=T0,
            ticker=first,
            status="determined",
            strike=1.0,
            open_ts=T0 - WINDOW_MS,
            close_ts=T0,
            result="no",
        )
    )
    out = s.enter_long()
    s.fill_all(of(out, PlaceOrder))
    position = position_of(s.engine)
    assert position.ticker == ticker_at(T0)
    s.feed(
        MarketStatus(
            ts=s.now,
            ticker=first,
            status="finalized",
            strike=1.0,
            open_ts=T0 - WINDOW_MS,
            close_ts=T0,
            result="no",
        )
    )
    s.tick(1)
    assert s.engine.lanes["paper"].position is position
    s.feed(status(s.now, T0, phase="determined"))  # no result yet: wait, never assume "no"
    assert s.engine.lanes["paper"].position is position
    out = s.feed(status(s.now, T0, phase="determined", result="yes"))
    trade = closed(out)[0]
    assert (trade.reason, trade.exit_yes_price, trade.fill_source) == (
        "CONTRACT_SETTLED",
        10_000,
        "settlement_won",
    )
    assert trade.pnl == (10_000 - 5000) * 4000


def test_a_lost_settlement_and_late_fills_after_it():
    s = Scenario(lanes=("paper",))
    out = s.enter_long()
    order = of(out, PlaceOrder)[0]
    fill(s.engine, "paper", order.client_order_id, [(5000, 1000, 0)])
    out = s.feed(status(s.now, T0, phase="determined", result="no"))
    assert closed(out)[0].pnl == -5000 * 1000
    assert closed(out)[0].fill_source == "settlement_lost"
    assert fill(s.engine, "paper", order.client_order_id, [(5000, 3000, 0)]) == []


def test_an_entry_filled_after_the_result_settles_at_once():
    s = Scenario(lanes=("paper",))
    out = s.enter_long()
    s.feed(
        MarketStatus(
            ts=s.now,
            ticker=ticker_at(T0),
            status="determined",
            strike=1.0,
            open_ts=T0,
            close_ts=T0 + WINDOW_MS,
            result="yes",
        )
    )
    res = s.fill_all(of(out, PlaceOrder))
    assert closed(res)[0].reason == "CONTRACT_SETTLED"


def test_positions_are_marked_and_guarded_against_their_own_contract():
    """§11.1: after the active contract rotates, the held contract's book and close time rule."""
    s = Scenario(lanes=("paper",))
    entered_orders = s.enter_long()
    s.fill_all(of(entered_orders, PlaceOrder))
    held = ticker_at(T0)
    s.feed(snapshot(s.now, held, ((4990, 150_000),), ((5000, 50_000),)))  # bid near the entry
    other_open = T0 + 10_000
    other = ticker_at(other_open)
    s.feed(
        MarketStatus(
            ts=s.now, ticker=other, status="open", strike=1.0, open_ts=T0, close_ts=T0 + 300_000
        )
    )
    s.feed(snapshot(s.now, other, ((100, 100_000),), ((9800, 100_000),)))
    s.tick(1)
    assert s.engine.market.active == other
    s.tick(200)  # past min hold; the other contract is now inside its expiry window
    s.feed(snapshot(s.now, other, ((50, 100_000),), ((9900, 100_000),)))  # the other book crashes
    assert not of(s.outputs, ClosePosition)
    out = s.feed(
        snapshot(s.now, held, ((4000, 150_000),), ((5000, 50_000),))
    )  # the held book falls
    assert [e.reason for e in of(out, ClosePosition)] == ["STOP_LOSS"]


def test_a_status_without_close_time_or_strike_keeps_the_known_ones():
    """§2.4 / BUG-028: a lifecycle message that omits the close time (a feed that has not
    seen the market yet) must not erase the known one: that would drop the active contract
    and force a held position out at once as if it were about to expire."""
    s = Scenario(lanes=("paper",))
    s.fill_all(of(s.enter_long(), PlaceOrder))
    held = ticker_at(T0)
    s.feed(
        MarketStatus(ts=s.now, ticker=held, status="open", strike=None, open_ts=T0, close_ts=None)
    )
    out = s.tick(1)
    assert not of(out, ClosePosition)
    assert s.engine.market.active == held
    assert s.engine.market.remaining_ms(held, s.now) == T0 + WINDOW_MS - s.now
    assert s.engine.market.contracts[held].strike == 90000.0
    later = T0 + WINDOW_MS + 60_000  # a status that does carry a close time still moves it
    s.feed(
        MarketStatus(ts=s.now, ticker=held, status="open", strike=1.0, open_ts=T0, close_ts=later)
    )
    assert s.engine.market.remaining_ms(held, s.now) == later - s.now
    assert s.engine.market.contracts[held].strike == 1.0


def short_scenario():
    params = P.with_overrides({"min_hold_s": 900})  # no strategy exits: guards only
    s = Scenario(params, lanes=("paper",))
    s.open_contract(yes=SHORT_YES, no=SHORT_NO)
    out = s.tick(3)
    order = of(out, PlaceOrder)[0]
    assert (order.side, order.yes_price, order.count) == ("no", 4800, 2600)  # $14 / 52 ¢ NO
    s.fill_all([order])
    return s


def rising_candles(closes):
    """Completed candles ending at T0, each opening at the previous close."""
    start = T0 - len(closes) * WINDOW_MS
    out, prev = [], closes[0]
    for i, c in enumerate(closes):
        out.append(candle(prev, max(prev, c), min(prev, c), c, start_ts=start + i * WINDOW_MS))
        prev = c
    return out


@pytest.mark.parametrize(
    ("closes", "reason"),
    [
        ((90000, 90100, 90200, 90360), "SHORT_BLOCKED_UPTREND_0.400%>=0.350%"),
        ((90000, 90100, 90150, 90200), "LOW_CONVICTION_DISABLED"),  # NORMAL softened to LOW
        ((90000, 90000, 90000, 90000), "ENTRY"),
    ],
)
def test_a_short_against_a_rising_spot_is_softened_or_blocked(closes, reason):
    s = Scenario(lanes=("paper",))
    s.engine.warm_up(rising_candles(closes))
    s.open_contract(yes=SHORT_YES, no=SHORT_NO)
    assert decisions(s.tick(3))[-1].reason == reason


def test_a_winning_short_is_not_closed_by_the_settlement_guard():
    """§11.1: compare the YES-space ask with the YES entry, not a NO price."""
    s = short_scenario()
    held = ticker_at(T0)
    s.feed(snapshot(s.now, held, ((4600, 50_000),), ((5300, 150_000),)))  # ask 47 ¢ < 48 ¢ entry
    s.tick(650 - 3)  # 250 s to close
    assert not of(s.outputs, ClosePosition)
    out = s.feed(snapshot(s.now, held, ((4600, 50_000),), ((5100, 150_000),)))  # ask 49 ¢
    assert [(e.reason, e.side, e.yes_price) for e in of(out, ClosePosition)] == [
        ("SHORT_SETTLEMENT_GUARD", "no", 9900)
    ]


def test_the_expiry_guard_skips_while_the_exit_side_is_empty():
    s = short_scenario()
    held = ticker_at(T0)
    s.feed(snapshot(s.now, held, ((4600, 50_000),), ()))  # no NO bids: nothing to sell into
    s.tick(730)  # 167 s to close
    assert not of(s.outputs, ClosePosition)
    out = s.feed(snapshot(s.now, held, ((4600, 50_000),), ((5300, 150_000),)))
    assert [e.reason for e in of(out, ClosePosition)] == ["EXPIRY_GUARD"]


@pytest.mark.parametrize(("seconds", "fires"), [(716, False), (717, False), (718, True)])
def test_the_expiry_guard_fires_at_180_seconds(seconds, fires):
    s = short_scenario()
    s.feed(snapshot(s.now, ticker_at(T0), ((4600, 50_000),), ((5300, 150_000),)))
    s.tick(seconds)  # entry at T0+3 s: T0+720 s is exactly 180 s before the close
    assert bool(of(s.outputs, ClosePosition)) is fires


def test_no_entry_without_a_known_close_time():
    s = Scenario(lanes=("paper",))
    s.feed(
        MarketStatus(
            ts=T0, ticker=ticker_at(T0), status="open", strike=1.0, open_ts=T0, close_ts=None
        )
    )
    s.feed(snapshot(T0, ticker_at(T0), LONG_YES, LONG_NO))
    out = s.tick(5)
    assert {d.reason for d in decisions(out)} == {"NO_ACTIVE_CONTRACT"}


def test_reentry_waits_for_the_cooldown():
    s = Scenario(lanes=("paper",))
    entered_out = s.enter_long()
    s.fill_all(of(entered_out, PlaceOrder))
    s.fill_at(s.engine.close_all(), 5000)
    out = s.tick(29)
    assert {d.reason for d in decisions(out)} == {"REENTRY_COOLDOWN"}
    out = s.tick(1)
    assert decisions(out)[-1].reason == "ENTRY"


def test_snapshot_restores_bankroll_breaker_position_and_cooldown():
    s = Scenario(lanes=("paper",))
    s.fill_all(of(s.enter_long(), PlaceOrder))
    state = json.loads(json.dumps(s.engine.snapshot()))
    restored = Engine.restore(P, state)
    assert restored.lanes["paper"].position == s.engine.lanes["paper"].position
    assert restored.lanes["paper"].breaker == s.engine.lanes["paper"].breaker
    assert restored.now == s.now
    out = restored.on_event(
        MarketStatus(
            ts=s.now + 1000,
            ticker=ticker_at(T0),
            status="determined",
            strike=1.0,
            open_ts=T0,
            close_ts=T0 + WINDOW_MS,
            result="yes",
        )
    )
    assert closed(out)[0].reason == "CONTRACT_SETTLED"
    with pytest.raises(ValueError, match="snapshot version"):
        Engine.restore(P, {**state, "version": 99})


def test_snapshot_keeps_orders_in_flight():
    s = Scenario(lanes=("paper",))
    order = of(s.enter_long(), PlaceOrder)[0]
    state = json.loads(json.dumps(s.engine.snapshot()))
    restored = Engine.restore(P, state)
    assert restored.lanes["paper"].orders == s.engine.lanes["paper"].orders
    opened = fill(restored, "paper", order.client_order_id, [(order.yes_price, order.count, 0)])
    assert [o.kind for o in opened] == ["position_opened", "features_captured"]
    del state["lanes"]["paper"]["orders"]  # a snapshot from before orders were kept
    assert Engine.restore(P, state).lanes["paper"].orders == {}


def test_a_restored_engine_adopts_a_rebuilt_market_and_carries_on_identically():
    events = list(generate_events(11, T0, 60))
    split = next(i for i, e in enumerate(events) if e.ts >= T0 + 20 * 60_000)
    venue = PaperVenue(0)
    original = Session(Engine(P), {"paper": venue, "live": venue})
    market_only, venue = Engine(P, (), 0), PaperVenue(0)  # the venue's books rebuilt too
    for event in events[:split]:
        original.feed(event)
        market_only.on_event(event)
        venue.on_event(event)
    assert original.venues["paper"].next_due_ts() is None
    restored = Engine.restore(P, json.loads(json.dumps(original.engine.snapshot())))
    restored.adopt_market(market_only.market, market_only.now)
    assert restored.now == original.engine.now
    again = Session(restored, {"paper": venue, "live": venue})
    again.second = original.second
    tail = [
        (engine_outputs(original.feed(e)), engine_outputs(again.feed(e))) for e in events[split:]
    ]
    assert [o.to_dict() for a, _ in tail for o in a] == [o.to_dict() for _, b in tail for o in b]
    assert any(isinstance(o, PositionClosed) for _, b in tail for o in b)
    fresh = Engine(P)
    fresh.adopt_market(MarketState(P), None)
    assert fresh.on_event(ClockTick(ts=T0)) != []  # no second counted as done


def test_orders_without_a_terminal_report_are_cancelled_then_forgotten():
    s = Scenario(lanes=("paper",))
    s.enter_long()
    out = s.tick(10)
    assert [c.reason for c in of(out, CancelOrder)] == ["TIMEOUT"]
    first = of(s.outputs, PlaceOrder)[0].client_order_id
    out = s.tick(20)
    assert of(out, OrderDone)[0].filled == 0
    assert first not in s.engine.lanes["paper"].orders


def test_exchange_fill_and_order_reports_reach_their_lane_and_account_events_only_tick():
    s = Scenario()
    order = of(s.enter_long(), PlaceOrder)[1]
    fill = OwnFill(
        ts=s.now,
        trade_id="t",
        order_id="o",
        client_order_id=order.client_order_id,
        ticker=order.ticker,
        side="yes",
        action="buy",
        yes_price=5000,
        count=4000,
        fee=70_000,
        is_taker=True,
    )
    assert not of(s.feed(fill), PositionOpened)  # the venue's to read, not the engine's
    out = s.engine.on_report("live", fill)
    assert of(out, PositionOpened)[0].lane == "live"
    resting = OrderUpdate(
        ts=s.now,
        order_id="o",
        client_order_id=order.client_order_id,
        ticker=order.ticker,
        side="yes",
        action="buy",
        status="resting",
        yes_price=5000,
        filled_count=4000,
        remaining_count=100,
    )
    assert not of(s.engine.on_report("live", resting), OrderDone)
    executed = OrderUpdate(
        ts=s.now,
        order_id="o",
        client_order_id=order.client_order_id,
        ticker=order.ticker,
        side="yes",
        action="buy",
        status="executed",
        yes_price=5000,
        filled_count=4000,
        remaining_count=0,
    )
    assert of(s.engine.on_report("live", executed), OrderDone)[0].filled == 4000


def live_long(s: Scenario) -> Position:
    """The live lane holding 40 YES at 50 ¢ (fees $0.07), filled from an exchange report."""
    order = of(s.enter_long(), PlaceOrder)[1]
    fill = OwnFill(
        s.now, "t", "o", order.client_order_id, order.ticker, "yes", "buy", 5000, 4000, 70_000, True
    )
    s.engine.on_report("live", fill)
    position = s.engine.lanes["live"].position
    assert position is not None
    return position


def test_a_restored_order_books_only_the_fills_the_lane_does_not_have_and_ends_it():
    s = Scenario()
    order = of(s.enter_long(), PlaceOrder)[1]
    coid, ticker = order.client_order_id, order.ticker
    first = OwnFill(s.now, "t", "o", coid, ticker, "yes", "buy", 5000, 1000, 17_500, True)
    s.engine.on_report("live", first)  # the lane had this one when it stopped
    fills = ((5000, 1000, 17_500), (5100, 3000, 52_500))
    out = s.engine.on_report("live", OrderRestored(s.now, coid, "entry", ticker, "yes", "", fills))
    position = s.engine.lanes["live"].position
    assert position is not None
    assert (position.count, position.cost, position.fees) == (4000, 20_300_000, 70_000)
    assert of(out, OrderDone)[0].filled == 4000
    assert s.engine.lanes["live"].orders == {}


def test_a_restored_entry_the_saved_state_never_knew_opens_the_position_and_its_exit_closes_it():
    s = Scenario()
    lane = s.engine.lanes["live"]
    fills = ((4000, 2000, 33_600),)
    out = s.engine.on_report(
        "live", OrderRestored(s.now, "e", "entry", "KXBTC15M-X", "no", "", fills)
    )
    [opened] = of(out, PositionOpened)
    assert (opened.direction, opened.count, opened.cost, opened.driver) == (
        "SHORT", 2000, 12_000_000, "UNKNOWN"
    )  # fmt: skip
    sold = ((4500, 2000, 34_700),)
    out = s.engine.on_report(
        "live", OrderRestored(s.now, "x", "exit", "KXBTC15M-X", "no", "TIME_EXIT", sold)
    )
    [closed] = of(out, PositionClosed)
    assert (closed.reason, closed.proceeds, closed.quarantine) == ("TIME_EXIT", 11_000_000, "")
    assert closed.pnl == 11_000_000 - 12_000_000 - 33_600 - 34_700
    assert lane.orders == {}
    assert lane.position is None
    # An exit for a position the lane does not hold books nothing.
    assert s.engine.on_report(
        "live", OrderRestored(s.now, "y", "exit", "KXBTC15M-X", "no", "STOP_LOSS", sold)
    ) == []  # fmt: skip


def test_a_restored_exit_is_booked_once_and_only_against_the_position_it_sold():
    """A venue tells its last round trip's sales again at start (#23): the saved state's
    last exit, or an exit of another entry on the same market, books nothing."""
    s = Scenario()
    lane = s.engine.lanes["live"]
    fills = ((4000, 2000, 33_600),)
    s.engine.on_report("live", OrderRestored(s.now, "e", "entry", "KXBTC15M-X", "no", "", fills))
    part = ((4500, 1000, 17_000),)
    s.engine.on_report(
        "live", OrderRestored(s.now, "x", "exit", "KXBTC15M-X", "no", "TIME_EXIT", part, 0, "e")
    )
    position = lane.position
    assert position is not None
    assert position.count == 1000
    # The part sold already, told again: nothing; another entry's exit: nothing.
    for coid, entry in (("x", "e"), ("z", "another-entry")):
        again = OrderRestored(s.now, coid, "exit", "KXBTC15M-X", "no", "TIME_EXIT", part, 0, entry)
        assert s.engine.on_report("live", again) == []
        assert position.count == 1000
    rest = OrderRestored(s.now, "y", "exit", "KXBTC15M-X", "no", "TIME_EXIT", part, 0, "e")
    [closed] = of(s.engine.on_report("live", rest), PositionClosed)
    assert (closed.count, closed.proceeds) == (2000, 11_000_000)


def test_a_start_correction_ends_the_orders_the_venue_is_not_working_on():
    s = Scenario()
    order = of(s.enter_long(), PlaceOrder)[1]
    out = s.engine.on_report("live", PositionCorrection(s.now, "", 0, "RESTORED", frozenset()))
    assert [d.client_order_id for d in of(out, OrderDone)] == [order.client_order_id]
    assert s.engine.lanes["live"].orders == {}


def test_a_recount_keeps_the_average_entry_and_the_bankroll_follows_the_account():
    s = Scenario()
    position = live_long(s)
    lane = s.engine.lanes["live"]
    out = s.engine.on_report("live", BalanceSync(s.now, cash=5_000_000, held=1_000_000))
    assert lane.breaker.bankroll == 5_000_000 + 1_000_000 + 20_000_000 + 70_000
    assert of(out, LaneStatus)[0].bankroll == lane.breaker.bankroll
    out = s.engine.on_report(
        "live", PositionCorrection(s.now, position.ticker, 1000, "RECONCILE_RECOUNT")
    )
    assert [u.reason for u in of(out, PositionUpdated)] == ["recount"]
    assert (position.count, position.cost, position.entry_fees) == (1000, 5_000_000, 17_500)
    assert (position.filled_count, position.total_cost, position.fees) == (1000, 5_000_000, 17_500)
    assert s.engine.on_report("live", BalanceSync(s.now, 5_000_000, 1_000_000)) != []
    assert lane.breaker.bankroll == 5_000_000 + 1_000_000 + 5_000_000 + 17_500
    assert s.engine.on_report("live", BalanceSync(s.now, 5_000_000, 1_000_000)) == []


def test_a_ghost_closes_with_no_pnl_and_its_settlement_books_nothing():
    s = Scenario()
    live_long(s)
    lane = s.engine.lanes["live"]
    bankroll = lane.breaker.bankroll
    out = s.engine.on_report("live", PositionCorrection(s.now, "", 0, "RECONCILE_GHOST"))
    [closed] = of(out, PositionClosed)
    assert (closed.reason, closed.quarantine, closed.fill_source) == (
        "RECONCILE_GHOST",
        "RECONCILE_GHOST",
        HANDED_OFF,
    )
    assert (closed.pnl, closed.proceeds, closed.count) == (0, 0, 4000)
    assert lane.position is None
    assert lane.breaker.bankroll == bankroll
    close_ts = T0 + WINDOW_MS
    out = s.feed(status(close_ts, T0, phase="determined", result="yes"))
    assert not of(out, PositionClosed)
    assert lane.breaker.bankroll == bankroll


@pytest.mark.parametrize(
    "reason", ["CONTRACT_SETTLED", "EXPIRY_409_SETTLED", "CONTRACT_SETTLED_VERIFY_FAILED"]
)
def test_a_lane_on_an_exchange_settles_when_its_venue_says_so_under_its_label(reason):
    s = Scenario()
    s.engine.trade_on_exchange("live", 3)
    position = live_long(s)
    assert position.uid.startswith("pos-live-s3-")  # the run's ids (``Lane.next_id``)
    lane = s.engine.lanes["live"]
    out = s.feed(status(T0 + WINDOW_MS, T0, phase="determined", result="yes"))
    assert not of(out, PositionClosed)  # the venue checks the account first
    assert not of(s.tick(5), ClosePosition)  # and nothing is sold on the closed market
    assert lane.position is position
    out = s.engine.on_report(
        "live", PositionSettled(s.now, "another-ticker", "yes", "CONTRACT_SETTLED")
    )
    assert out == []  # not its position
    out = s.engine.on_report("live", PositionSettled(s.now, position.ticker, "yes", reason))
    [closed] = of(out, PositionClosed)
    assert (closed.reason, closed.fill_source) == (reason, "settlement_won")
    assert closed.pnl == 4000 * 10_000 - 20_000_000 - 70_000
    assert lane.position is None


def test_trade_flow_disagreement_downgrades_the_entry():
    s = Scenario(lanes=("paper",))
    s.open_contract()
    s.feed(PublicTrade(ts=T0, ticker=ticker_at(T0), yes_price=5000, count=10_000, taker_side="no"))
    out = s.tick(3)
    assert decisions(out)[-1].reason == "LOW_CONVICTION_DISABLED"
    assert decisions(out)[-1].conviction == "LOW"


def test_candles_close_on_event_time_and_feed_the_regime():
    s = Scenario(lanes=("paper",))
    s.engine.warm_up([candle(100, 100.05, 99.95, 100, T0 - (16 - i) * 900_000) for i in range(16)])
    assert s.engine.market.regime.regime == "LOW"
    s.feed(snapshot(T0, "X", (), ()))
    s.tick(900, spot=None)
    s.feed(status(s.now, s.now))
    s.tick(1, spot=91000.0)
    out = s.feed(ClockTick(ts=s.now + 900_000))
    assert of(out, CandleClosed)[0].close == 91000.0
    out = s.tick(1)
    assert not of(out, RegimeChanged)


def test_regime_change_is_recorded():
    p = P.with_overrides({"atr_period": 2, "atr_smooth_period": 1, "atr_regime_confirm_bars": 1})
    s = Scenario(p, lanes=("paper",))
    for i in range(3):
        s.feed(ClockTick(ts=T0 + i * 900_000))
        s.feed(status(T0 + i * 900_000, T0 + i * 900_000))
        from marketdata.model.events import SpotTrade

        s.feed(SpotTrade(ts=T0 + i * 900_000, price=100.0 + i * 5, size=1))
    s.feed(ClockTick(ts=T0 + 3 * 900_000))
    assert [(r.old, r.new) for r in of(s.outputs, RegimeChanged)] == [("MEDIUM", "HIGH")]


def test_apply_params_swaps_a_lanes_rules_but_never_the_shared_market_parameters():
    s = Scenario()
    out = s.engine.apply_params(P.with_overrides({"obi_consecutive_readings": 1}), lane="paper")
    assert [(st.lane, st.params_hash) for st in of(out, LaneStatus)] == [
        ("paper", P.with_overrides({"obi_consecutive_readings": 1}).params_hash())
    ]
    assert s.engine.lanes["live"].params == P
    out = s.enter_long()
    assert decisions(out)[0].reason == "ENTRY"
    for market_param in ({"candle_interval_s": 60}, {"obi_history_len": 5}, {"exit_candle_s": 60}):
        with pytest.raises(ParamError, match=f"{next(iter(market_param))}.*next start"):
            s.engine.apply_params(P.with_overrides(market_param))
    assert s.engine.market.exit_candles.interval_s == 180


def test_the_live_breaker_halts_entries_and_clears_by_operator_reset():
    s = Scenario(initial_bankroll_micros={"paper": 1_000_000_000, "live": 1_000_000_000})
    live = s.engine.lanes["live"]
    live.breaker.apply_pnl(-200_000_000)
    out = s.enter_long()
    assert [b.reason for b in of(s.outputs, BreakerChanged)] == ["MAX_DRAWDOWN_HALT"]
    assert decisions(out, "live")[-1].reason == "CIRCUIT_BREAKER_ACTIVE"
    assert decisions(out, "paper")[-1].reason == "ENTRY"  # paper records, never halts
    cleared = s.engine.reset_drawdown("live")
    assert [(b.reason, b.halts) for b in of(cleared, BreakerChanged)] == [("", False)]


def test_the_daily_breaker_clears_at_midnight_utc_event_time():
    s = Scenario(lanes=("live",))
    s.now = T0 - 3000
    s.tick(1)
    s.engine.lanes["live"].breaker.apply_pnl(-60_000_000)
    out = s.tick(1)  # 23:59:59
    assert [b.reason for b in of(out, BreakerChanged)] == ["DAILY_LOSS_LIMIT"]
    out = s.tick(1)  # 00:00:00
    assert [b.reason for b in of(out, BreakerChanged)] == [""]


def test_an_exit_filled_at_midnight_counts_toward_the_new_day():
    """A paper fill due at 00:00:00.000 reaches the engine before that second's tick (the
    venue fills what is due first): its PnL belongs to the new day's loss, not the old."""
    s = Scenario(lanes=("paper",))
    s.now = T0 - 290_000
    s.open_contract(open_ts=T0 - 300_000)
    s.fill_all(of(s.tick(3), PlaceOrder))
    assert position_of(s.engine) is not None
    breaker = s.engine.lanes["paper"].breaker
    before = breaker.bankroll
    (close,) = of(s.engine.close_all("EMERGENCY_STOP"), ClosePosition)
    filled = fill(
        s.engine, "paper", close.client_order_id, [(close.yes_price - 300, close.count, 0)], T0
    )
    done(s.engine, "paper", close.client_order_id, T0)
    (trade,) = of(filled, PositionClosed)
    assert trade.pnl < 0
    s.feed(ClockTick(ts=T0))
    assert breaker.bankroll == before + trade.pnl
    assert breaker.daily_start == before  # the day rolled before the fill, not after it


def test_health_score_is_recorded_in_shadow_and_exits_when_enabled():
    shadow = Scenario(lanes=("paper",))
    shadow.fill_all(of(shadow.enter_long(), PlaceOrder))
    shadow.tick(20)
    telemetry = of(shadow.outputs, PositionUpdated)
    assert telemetry
    assert telemetry[-1].health_score is not None
    assert not of(shadow.outputs, ClosePosition)
    live = P.with_overrides(
        {"exit_intelligence_shadow_only": False, "health_score_threshold": 100.0}
    )
    s = Scenario(live, lanes=("paper",))
    s.fill_all(of(s.enter_long(), PlaceOrder))
    out = s.tick(3)
    assert [e.reason for e in of(out, ClosePosition)] == ["HEALTH_SCORE_DECAY"]


def test_rapid_fire_exits_on_the_live_lane_are_quarantined():
    s = Scenario(lanes=("live",))
    s.open_contract()
    bankroll = s.engine.lanes["live"].breaker.bankroll
    trades = []
    for _ in range(3):
        s.engine.lanes["live"].last_exit_ts = None
        out = s.tick(1)
        while not of(out, PlaceOrder):
            out = s.tick(1)
        s.fill_all(of(out, PlaceOrder))
        trades += closed(s.fill_at(s.engine.close_all(), 5100), "live")
    assert [t.quarantine for t in trades] == ["", "", "RAPID_FIRE_LOOP"]
    assert s.engine.lanes["live"].breaker.bankroll == bankroll + trades[0].pnl + trades[1].pnl


def test_a_quarantined_winning_trade_leaves_no_phantom_drawdown():
    """§3.14: reversing a quarantined trade undoes all of its bankroll effect, the peak it
    raised included; otherwise its profit would count as a drawdown (smaller entries past
    10 %, a halt only an operator can clear at 20 %)."""
    s = Scenario(lanes=("live",))
    s.open_contract()
    breaker = s.engine.lanes["live"].breaker
    trades = []
    for _ in range(3):
        s.engine.lanes["live"].last_exit_ts = None
        out = s.tick(1)
        while not of(out, PlaceOrder):
            out = s.tick(1)
        s.fill_all(of(out, PlaceOrder))
        trades += closed(s.fill_at(s.engine.close_all(), 5100), "live")
    assert [t.quarantine for t in trades] == ["", "", "RAPID_FIRE_LOOP"]
    assert trades[2].pnl > 0
    assert breaker.peak == breaker.bankroll == 1_000_000_000 + trades[0].pnl + trades[1].pnl


def test_an_operator_reset_during_a_quarantined_trade_keeps_the_reset_peak():
    s = Scenario(lanes=("live",))
    s.open_contract()
    breaker = s.engine.lanes["live"].breaker
    trades = []
    for i in range(3):
        s.engine.lanes["live"].last_exit_ts = None
        out = s.tick(1)
        while not of(out, PlaceOrder):
            out = s.tick(1)
        s.fill_all(of(out, PlaceOrder))
        exits = s.engine.close_all()
        if i == 2:  # a first partial exit fill raises the peak, then the operator resets
            exit_order = of(exits, ClosePosition)[0]
            fill(s.engine, "live", exit_order.client_order_id, [(5100, 100, 0)])
            s.engine.reset_drawdown("live")
            reset_peak = breaker.peak
        trades += closed(s.fill_at(exits, 5100), "live")
    assert [t.quarantine for t in trades] == ["", "", "RAPID_FIRE_LOOP"]
    assert breaker.peak == reset_peak
    assert breaker.bankroll == 1_000_000_000 + trades[0].pnl + trades[1].pnl


def test_an_instant_stop_on_the_live_lane_is_quarantined():
    params = P.with_overrides(
        {"atr_period": 2, "atr_smooth_period": 1, "atr_regime_confirm_bars": 1}
    )
    s = Scenario(params, lanes=("live",))
    s.fill_all(of(s.enter_long(), PlaceOrder))
    s.engine.market.regime.regime = "HIGH"  # stops fire before min hold in a HIGH regime
    out = s.tick(1)
    exits = of(out, ClosePosition)
    assert [e.reason for e in exits] == ["STOP_LOSS"]
    trade = closed(s.fill_at(exits, 4800), "live")[0]
    assert trade.quarantine == "INSTANT_STOP_LOSS"


def low_conviction_entry(s):
    """TFI disagreement downgrades the OBI long to LOW (test_trade_flow_disagreement…)."""
    s.open_contract()
    s.feed(PublicTrade(ts=T0, ticker=ticker_at(T0), yes_price=5000, count=10_000, taker_side="no"))
    return s.tick(3)


def high_conviction_entry(s):
    """A rising spot adds ROC LONG to the OBI long: HIGH."""
    s.engine.warm_up(rising_candles((90000, 90200, 90400, 90800)))
    s.open_contract()
    return s.tick(3)


@pytest.mark.parametrize(
    ("enter", "overrides", "conviction", "size_mult", "count"),
    [
        (high_conviction_entry, {}, "HIGH", 1.30, 5200),
        (lambda s: s.enter_long(), {}, "NORMAL", 1.00, 4000),
        (low_conviction_entry, {"roc_low_conviction_paper_enabled": True}, "LOW", 0.65, 2600),
    ],
)
def test_an_entry_logs_the_size_multiplier_its_conviction_was_sized_with(
    enter, overrides, conviction, size_mult, count
):
    s = Scenario(P.with_overrides(overrides), lanes=("paper",))
    entry = decisions(enter(s))[-1]
    assert (entry.reason, entry.conviction, entry.size_mult) == ("ENTRY", conviction, size_mult)
    assert entry.count == count  # 4000 (NORMAL) × the multiplier: the sizer applied it
    assert entry.to_dict()["size_mult"] == size_mult


def test_the_logged_size_multiplier_follows_an_overridden_conviction_parameter():
    s = Scenario(P.with_overrides({"conviction_mult_normal": 0.5}), lanes=("paper",))
    entry = decisions(s.enter_long())[-1]
    assert (entry.conviction, entry.size_mult, entry.count) == ("NORMAL", 0.5, 2000)


def test_skips_log_their_convictions_multiplier_and_zero_for_no_conviction():
    """Not only entries: the multiplier follows the decision's conviction (domain.md §3.7's
    table, NONE 0), whether or not the sizer ran."""
    s = Scenario(initial_bankroll_micros={"paper": 1_000_000_000, "live": 1_000_000_000})
    s.engine.lanes["live"].breaker.apply_pnl(-200_000_000)
    out = s.enter_long()
    assert [(d.reason, d.conviction, d.size_mult) for d in decisions(out, "paper")][:2] == [
        ("NO_SIGNAL", "NONE", 0.0),
        ("NO_SIGNAL", "NONE", 0.0),
    ]
    halted = decisions(out, "live")[-1]  # the paper lane entered NORMAL in that second
    assert (halted.reason, halted.conviction, halted.size_mult) == (
        "CIRCUIT_BREAKER_ACTIVE",
        "NONE",
        0.0,
    )
    low = decisions(low_conviction_entry(Scenario(lanes=("paper",))))[-1]
    assert (low.reason, low.conviction, low.size_mult) == ("LOW_CONVICTION_DISABLED", "LOW", 0.65)


def test_the_logged_size_multiplier_is_the_one_the_sizer_uses():
    for conviction in ("HIGH", "NORMAL", "LOW"):
        assert size_mult(conviction, P) == float(conviction_mult(conviction, P))
    assert (size_mult("HIGH", P), size_mult("NORMAL", P), size_mult("LOW", P)) == (1.3, 1.0, 0.65)
    assert size_mult("NONE", P) == 0.0


def test_live_entries_cross_by_the_slippage():
    s = Scenario(DEFAULT_PARAMS.with_overrides({"live_entry_slippage": 300}))
    orders = {o.lane: o for o in of(s.enter_long(), PlaceOrder)}
    assert orders["live"].yes_price == orders["paper"].yes_price + 300
    assert orders["live"].count == orders["paper"].count or orders["live"].count > 0
