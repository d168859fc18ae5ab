"""The sidebar's trade counts: every closed trade counted, "today" rolls at 00:00 UTC."""

from __future__ import annotations

from typing import Any

from trading.runtime.state import DAY_MS, count_trade, trade_counts

MIDNIGHT = 20_000 * DAY_MS


def test_each_closed_trade_is_counted_per_lane() -> None:
    runtime: dict[str, Any] = {}
    count_trade(runtime, "paper", MIDNIGHT + 1_000)
    count_trade(runtime, "paper", MIDNIGHT + 2_000)
    count_trade(runtime, "live", MIDNIGHT + 3_000)
    assert trade_counts(runtime, "paper", MIDNIGHT + 5_000) == (2, 2)
    assert trade_counts(runtime, "live", MIDNIGHT + 5_000) == (1, 1)


def test_todays_count_restarts_at_midnight_utc_of_event_time() -> None:
    runtime: dict[str, Any] = {}
    count_trade(runtime, "paper", MIDNIGHT - 1)
    assert trade_counts(runtime, "paper", MIDNIGHT - 1) == (1, 1)
    assert trade_counts(runtime, "paper", MIDNIGHT) == (1, 0)
    count_trade(runtime, "paper", MIDNIGHT + 10)
    assert trade_counts(runtime, "paper", MIDNIGHT + 10) == (2, 1)


def test_a_lane_without_trades_reads_zero() -> None:
    assert trade_counts({}, "paper", MIDNIGHT) == (0, 0)
