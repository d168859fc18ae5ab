"""What the daemon does with bad input that reaches it between events: an order the paper
venue refuses, and stored overrides that no longer fit the parameter set. Each is logged
with what was wrong, shown on the health panel, and loses nothing already in force."""

from __future__ import annotations

from structlog.testing import capture_logs

from marketdata.model.events import OrderUpdate, OwnFill
from trading import selectors
from trading.engine.params import DEFAULT_PARAMS
from trading.runtime.daemon import Daemon, DaemonConfig
from trading.runtime.factory import build_daemon
from trading.runtime.session import new_session, paper_venues
from trading.runtime.writer import Write
from trading.venues.base import VenueReport

START = 1_767_225_600_000


def daemon() -> Daemon:
    daemon = build_daemon(DaemonConfig(), feeds=[], candles=lambda before: [], start_ts=START)
    daemon.session = new_session(DEFAULT_PARAMS, bankroll=1_000_000_000, venues=paper_venues(200))
    return daemon


def controls(version: int, **overrides: object) -> selectors.ControlsSnapshot:
    return selectors.ControlsSnapshot(version=version, overrides=dict(overrides))


def ended(coid: str, reason: str, filled: int = 0) -> VenueReport:
    update = OrderUpdate(
        ts=START,
        order_id=coid,
        client_order_id=coid,
        ticker="KX-1",
        side="yes",
        action="buy",
        status="executed" if not reason else "canceled",
        yes_price=5000,
        filled_count=filled,
        remaining_count=0,
    )
    return VenueReport("paper", update, reason)


def filled(coid: str) -> VenueReport:
    fill = OwnFill(
        ts=START,
        trade_id=f"{coid}#1",
        order_id=coid,
        client_order_id=coid,
        ticker="KX-1",
        side="yes",
        action="buy",
        yes_price=5000,
        count=100,
        fee=0,
        is_taker=True,
    )
    return VenueReport("paper", fill)


def test_an_order_the_venue_cannot_fill_is_logged_and_counted_with_its_reason() -> None:
    trader = daemon()
    with capture_logs() as logs:
        trader._dispatch([ended("entry-1", "no_liquidity"), ended("exit-2", "market_closed")])

    unfilled = [entry for entry in logs if entry["event"] == "order_not_filled"]
    assert [(e["client_order_id"], e["reason"], e["filled"]) for e in unfilled] == [
        ("entry-1", "no_liquidity", 0),
        ("exit-2", "market_closed", 0),
    ]
    health = trader.health_payload()
    assert health["orders_unfilled"] == {"paper:no_liquidity": 1, "paper:market_closed": 1}


def test_a_filled_or_operator_cancelled_order_is_not_reported() -> None:
    trader = daemon()
    with capture_logs() as logs:
        trader._dispatch([ended("e", "", filled=300), ended("c", "cancelled")])
    assert not [entry for entry in logs if entry["event"] == "order_not_filled"]
    assert trader.health_payload()["orders_unfilled"] == {}


def test_invalid_stored_overrides_keep_the_parameters_in_force_and_say_why() -> None:
    trader = daemon()
    trader._apply_controls(controls(1, min_hold_s=90))
    assert trader.session is not None
    assert trader.session.engine.lanes["paper"].params.min_hold_s == 90

    with capture_logs() as logs:
        trader._apply_controls(controls(2, min_hold_s=60, obi_long_threshold=3))

    # nothing of the invalid set applied, and the valid override in force is not dropped
    assert trader.session.engine.lanes["paper"].params.min_hold_s == 90
    paper = trader.session.engine.lanes["paper"].params
    assert paper.obi_long_threshold == DEFAULT_PARAMS.obi_long_threshold
    rejected = [entry for entry in logs if entry["event"] == "overrides_rejected"]
    assert rejected
    assert "obi_long_threshold" in rejected[0]["error"]
    assert "obi_long_threshold" in trader.health_payload()["params_error"]

    trader._apply_controls(controls(3, min_hold_s=60))
    assert trader.session.engine.lanes["paper"].params.min_hold_s == 60
    assert trader.health_payload()["params_error"] == ""


def test_invalid_overrides_at_start_fall_back_to_the_base_parameters_and_say_why() -> None:
    trader = daemon()
    assert trader._params(controls(1, min_hold_s=-5)) is None
    assert "min_hold_s" in trader.params_error


def test_the_health_payload_counts_events_the_session_raised_on() -> None:
    trader = daemon()
    trader.errors = 2
    assert trader.health_payload()["event_errors"] == 2


def test_the_health_payload_keeps_saying_that_writes_were_refused() -> None:
    trader = daemon()
    assert trader.health_payload()["db"] == "ok"
    trader.writer.failed = 1
    assert trader.health_payload()["db"] == "ok (1 writes failed: persist_write_failed)"


def test_the_health_payload_says_optional_writes_were_dropped_when_the_queue_was_full() -> None:
    trader = daemon()
    trader.writer.bound = 1
    with capture_logs() as logs:
        for ts in (1, 2):
            trader.writer.put(Write(print, {"ts": ts}))
    assert trader.writer.dropped == 1
    assert [entry["event"] for entry in logs] == ["persist_queue_full_dropping"]
    assert "1 optional writes dropped" in trader.health_payload()["db"]


def test_a_market_parameter_override_waits_for_the_next_start_and_says_so() -> None:
    trader = daemon()
    trader._apply_controls(controls(1, obi_history_len=5, min_hold_s=90))
    assert trader.session is not None
    lane = trader.session.engine.lanes["paper"]
    assert lane.params.min_hold_s == 90  # a lane parameter: at once
    assert lane.params.obi_history_len == DEFAULT_PARAMS.obi_history_len
    assert trader.health_payload()["params_pending_restart"] == ["obi_history_len"]
    assert trader.health_payload()["params_error"] == ""
    trader._apply_controls(controls(2, min_hold_s=90))
    assert trader.health_payload()["params_pending_restart"] == []


def test_the_health_payload_counts_fills_by_lane_and_reports_the_writer_queue() -> None:
    trader = daemon()
    trader._dispatch([filled("f"), filled("e"), filled("e"), ended("e", "partial", 200)])
    trader.writer.put(Write(print, {"ts": 1}))
    health = trader.health_payload()
    assert health["fills"] == {"paper": 3}
    assert health["queues"]["writer"] == 1
    assert health["writer_lag_s"] >= 0
    assert health["recorder_dropped"] == 0


def test_the_writer_lag_is_zero_when_its_queue_is_empty_and_grows_while_it_waits() -> None:
    trader = daemon()
    assert trader.writer.lag_s() == 0
    trader.writer.put(Write(print, {"ts": 1}))
    first = trader.writer.lag_s()
    trader.writer.put(Write(print, {"ts": 2}))  # a later write does not reset the wait
    assert trader.writer.lag_s() >= first > 0
    trader.writer.take_unwritten()
    assert trader.writer.lag_s() == 0
