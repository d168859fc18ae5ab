"""The dashboard's windows end at the trading clock's "now", not at the wall clock's."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from django.core.cache import cache

from trading import clock, push, selectors
from trading.services import controls, trades
from trading.tests import factories

pytestmark = pytest.mark.django_db

# Simulated time, as in the demo: months before the wall clock of any test run.
NOW = dt.datetime(2026, 1, 14, 10, 30, tzinfo=dt.UTC)


def ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


@pytest.fixture(autouse=True)
def no_published_payloads() -> Iterator[None]:
    push.forget_latest_payloads()  # a shared (Redis) cache may hold another run's payloads
    yield
    push.forget_latest_payloads()


def publish(topic: str, at: dt.datetime, lane: str = "") -> None:
    """What ``push.Publisher`` leaves in the cache for a payload with event time ``at``."""
    payload = {"ts": ms(at), **({"lane": lane} if lane else {})}
    cache.set(push.LATEST_KEY.format(topic=topic, slot=lane), json.dumps(payload))


def save_state(at: dt.datetime) -> None:
    trades.bot_state_save(
        lane="paper",
        bankroll=1_000_000_000,
        peak=1_000_000_000,
        daily_baseline=1_000_000_000,
        weekly_baseline=1_000_000_000,
        snapshot_at_ms=ms(at),
    )


def closed_at(at: dt.datetime, **fields: object) -> None:
    factories.trade(opened_at_ms=ms(at) - 60_000, closed_at_ms=ms(at), **fields)


def test_it_reads_the_newest_event_time_the_daemon_published():
    publish("market", NOW - dt.timedelta(seconds=1))
    publish("health", NOW)
    publish("equity", NOW - dt.timedelta(seconds=3), lane="paper")
    save_state(NOW + dt.timedelta(days=60))  # an older session's state: the live one wins
    closed_at(NOW + dt.timedelta(days=90))
    assert clock.trading_now() == NOW


def test_without_a_live_snapshot_it_reads_the_last_saved_state():
    save_state(NOW)
    closed_at(NOW - dt.timedelta(hours=1))
    assert clock.trading_now() == NOW


def test_without_a_daemon_it_reads_the_latest_trades_exit():
    closed_at(NOW - dt.timedelta(days=2))
    closed_at(NOW)
    assert clock.trading_now() == NOW


def test_on_a_fresh_install_it_reads_the_wall_clock():
    before = dt.datetime.now(dt.UTC)
    assert before <= clock.trading_now() <= dt.datetime.now(dt.UTC)


def test_a_payload_without_an_event_time_is_not_a_clock():
    publish("health", dt.datetime.fromtimestamp(0, tz=dt.UTC))  # "ts": 0 before the session
    save_state(NOW)
    assert clock.trading_now() == NOW


def test_chart_ranges_count_back_from_the_trading_clock():
    publish("market", NOW)
    assert clock.range_start("24h") == NOW - dt.timedelta(hours=24)
    assert clock.range_start("1w") == NOW - dt.timedelta(days=7)
    assert clock.range_start("1m") == NOW - dt.timedelta(days=30)
    assert clock.range_start("all") is None
    assert clock.range_start("fortnight") == NOW - dt.timedelta(hours=24)


def test_last_days_are_whole_utc_days_ending_with_the_clocks_day():
    start, end = clock.last_days(14, now=NOW)
    assert start == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert end == dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
    assert clock.last_days(1, now=NOW) == (
        dt.datetime(2026, 1, 14, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 15, tzinfo=dt.UTC),
    )
    with pytest.raises(ValueError, match="1 or more"):
        clock.last_days(0, now=NOW)


def test_daily_pnl_keeps_exactly_the_trades_of_the_last_days_to_the_clocks_day():
    first_day = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    next_day = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
    closed_at(first_day - dt.timedelta(milliseconds=1), pnl=-1_000_000)  # day 15 back: out
    closed_at(first_day, pnl=2_000_000)
    closed_at(next_day - dt.timedelta(milliseconds=1), pnl=3_000_000)
    closed_at(next_day, pnl=-4_000_000)  # after the clock's day: out
    save_state(NOW)

    rows = selectors.daily_pnl(lane="paper", days=14)

    assert [(row["day"], row["trades"], float(row["pnl"])) for row in rows] == [
        (dt.date(2026, 1, 1), 1, 2.0),
        (dt.date(2026, 1, 14), 1, 3.0),
    ]


def test_operator_resets_are_stamped_on_the_trading_clock():
    """The trade-limit count and the breaker baselines are compared with event times: a
    wall-clock stamp months after a simulated run's trades would make the limit never bind."""
    save_state(NOW)
    robot = controls.Actor(label="tester", source="test")
    controls.trade_limit_set(limit=3, reset=True, actor=robot)
    assert selectors.controls_current().live_trade_count_since_ms == ms(NOW)
    state = controls.reset_drawdown(lane="paper", actor=robot)
    assert state.daily_baseline_at == state.weekly_baseline_at == NOW
    assert state.drawdown_reset_at == NOW
