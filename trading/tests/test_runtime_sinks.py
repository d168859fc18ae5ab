"""The seams between the driver, the venues and the sinks: what a trader's rows and screens
are built from is the engine's records alone, the same for every venue."""

from __future__ import annotations

import functools

from marketdata.model.events import Event, OwnFill
from marketdata.sim.prices import history_candles
from marketdata.sim.stream import generate_events, history_for
from trading.engine.engine import Engine
from trading.engine.params import DEFAULT_PARAMS
from trading.engine.records import (
    LaneStatus,
    MarketSnapshot,
    PositionClosed,
    PositionOpened,
    PositionUpdated,
)
from trading.runtime.outbox import Outbox
from trading.runtime.session import Session, new_session, paper_venues
from trading.runtime.sinks.dashboard import DashboardSink
from trading.runtime.sinks.held import HeldContractsSink
from trading.runtime.sinks.persistence import PersistenceSink
from trading.runtime.writer import PersistWriter
from trading.venues.base import VenueReport
from trading.venues.paper import PaperVenue

START = 1_767_225_600_000  # 2026-01-01 00:00 UTC: seed 7 trades within the first hours
SEED = 7
MINUTES = 90


@functools.cache
def default_run():
    return traded_session()


def traded_session(lanes=("paper",), venues=None):
    history = history_for(SEED, START, MINUTES)
    consumed: list[Event] = []
    session = new_session(
        DEFAULT_PARAMS,
        lanes=lanes,
        bankroll=1_000_000_000,
        venues=venues or paper_venues(200),
        warmup=history_candles(history, START, count=60),
        on_consumed=consumed.append,
    )
    produced = session.feed_all(generate_events(SEED, START, MINUTES, history))
    return session, produced, consumed


def test_the_equity_panel_reads_daily_and_weekly_losses_against_their_own_baselines():
    engine = Engine(DEFAULT_PARAMS, ("paper",), 1_000_000_000)
    breaker = engine.lanes["paper"].breaker
    breaker.peak, breaker.daily_start, breaker.weekly_start = 1_200, 1_000, 1_100
    breaker.bankroll = 900
    sink = DashboardSink(Outbox(), runtime={}, health=dict)
    sink.start(engine.start_records())
    equity = sink.outbox.pending[("equity", "paper")]
    # the daily baseline lost 10 %, the weekly 1/11, the peak a quarter (not 100/1200)
    assert equity["daily_loss"] == 0.1
    assert equity["weekly_loss"] == 200 / 1_100
    assert equity["drawdown"] == 0.25


def test_a_round_trip_becomes_rows_from_its_records_alone(tmp_path):
    session, produced, _ = default_run()
    opened = next(o for o in produced if isinstance(o, PositionOpened))
    closed = next(o for o in produced if isinstance(o, PositionClosed))
    assert opened.entry_client_order_id.startswith("kbtc-paper-")
    writer = PersistWriter()
    sink = PersistenceSink(
        writer, runtime={}, snapshot=session.snapshot, state_every_ms=300_000, spill_dir=tmp_path
    )
    sink.consume(None, produced, session.now)
    writes = writer.take_unwritten()
    opens = [w.kwargs for w in writes if w.fn.__name__ == "position_open"]
    closes = [w.kwargs for w in writes if w.fn.__name__ == "position_close"]
    updates = [w.kwargs for w in writes if w.fn.__name__ == "position_update"]
    first_open = next(o for o in opens if o["position_uid"] == opened.position_uid)
    assert first_open["entry_client_order_id"] == opened.entry_client_order_id
    first_close = next(c for c in closes if c["position_uid"] == closed.position_uid)
    assert first_close["exit_client_order_id"] == closed.exit_client_order_id
    fill_updates = [o for o in produced if isinstance(o, PositionUpdated) and "fill" in o.reason]
    assert [(u["cost"], u["fees"]) for u in updates] == [(u.cost, u.fees) for u in fill_updates]
    assert sink.runtime["trade_counts"]["paper"]["total"] == sum(
        isinstance(o, PositionClosed) for o in produced
    )
    saved = [w for w in writes if w.fn.__name__ == "save_rows"]
    assert saved, "state is saved at every close"
    row = saved[-1].kwargs["rows"][0]
    last_status = [o for o in produced if isinstance(o, LaneStatus)][-1]
    assert (row["bankroll"], row["peak"]) == (last_status.bankroll, last_status.peak)


def test_venue_fills_reach_the_engine_but_never_the_journal():
    _, produced, consumed = default_run()
    fills = [o for o in produced if isinstance(o, VenueReport) and isinstance(o.update, OwnFill)]
    assert fills
    assert not [e for e in consumed if e.kind in ("own_fill", "order_update")]


def test_each_lane_trades_through_its_own_venue():
    fast, slow = PaperVenue(0), PaperVenue(1_000)
    _, produced, _ = traded_session(
        ("paper", "live"), venues=lambda lanes: {"paper": fast, "live": slow}
    )
    assert any(isinstance(o, PositionClosed) for o in produced)
    lags: dict[str, set[int]] = {}
    intents = {o.client_order_id: o.ts for o in produced if o.kind == "place_order"}
    for item in produced:
        if isinstance(item, VenueReport) and isinstance(item.update, OwnFill):
            coid = item.update.client_order_id
            if coid in intents:
                lags.setdefault(item.lane, set()).add(item.ts - intents[coid])
    assert lags == {"paper": {0}, "live": {1_000}}


def test_the_market_card_and_the_held_contracts_come_from_records():
    session, produced, _ = default_run()
    snapshots = [o for o in produced if isinstance(o, MarketSnapshot)]
    assert len({s.ts // 1000 for s in snapshots}) == len(snapshots)  # one a second
    assert snapshots[-1].ticker is not None
    held = HeldContractsSink()
    opened = next(i for i, o in enumerate(produced) if isinstance(o, PositionOpened))
    held.consume(None, produced[: opened + 1], session.now)
    position = produced[opened]
    assert held.positions() == {position.ticker: position.count}
    held.consume(None, produced[opened + 1 :], session.now)
    still_open = session.engine.lanes["paper"].position
    expected = {} if still_open is None else {still_open.ticker: still_open.count}
    assert held.positions() == expected


def test_a_restored_engine_tells_its_sinks_the_position_it_holds():
    _, produced, _ = default_run()
    opened = next(o for o in produced if isinstance(o, PositionOpened))
    engine = Engine(DEFAULT_PARAMS, ("paper",), 1_000_000_000)
    restored = Session(Engine.restore(DEFAULT_PARAMS, engine.snapshot()), {"paper": PaperVenue()})
    assert [r.kind for r in restored.start()] == ["lane_status"]
    # a snapshot taken while the position was open
    partial = new_session(
        DEFAULT_PARAMS,
        bankroll=1_000_000_000,
        venues=paper_venues(200),
        warmup=history_candles(history_for(SEED, START, MINUTES), START, count=60),
    )
    for event in generate_events(SEED, START, MINUTES, history_for(SEED, START, MINUTES)):
        partial.feed(event)
        if event.ts > opened.ts:
            break
    again = Engine.restore(DEFAULT_PARAMS, partial.engine.snapshot())
    records = again.start_records()
    held = [r for r in records if isinstance(r, PositionOpened)]
    assert [(r.position_uid, r.entry_client_order_id) for r in held] == [
        (opened.position_uid, opened.entry_client_order_id)
    ]
    sink = DashboardSink(Outbox(), runtime={}, health=dict)
    sink.start(records)
    shown = sink.outbox.pending[("position", "paper")]["positions"]
    assert [p["position_uid"] for p in shown] == [opened.position_uid]
