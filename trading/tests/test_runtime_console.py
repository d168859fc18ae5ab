from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from trading.engine.records import BreakerChanged, PositionClosed, PositionOpened
from trading.runtime.sinks import console
from trading.services import controls
from trading.tests import factories

T0 = factories.T0_MS


def test_a_closed_trade_is_one_info_line_with_its_pnl_in_dollars():
    record = PositionClosed(
        ts=T0, lane="paper", position_uid="p-1", ticker="KXBTC15M-X", direction="LONG",
        opened_ts=T0 - 60_000, count=1000, entry_yes_price=4200, exit_yes_price=4600,
        cost=4_200_000, proceeds=4_600_000, fees=350_000, pnl=50_000, pnl_frac=0.012,
        reason="TAKE_PROFIT", fill_source="paper", mfe=None, mae=None, min_health_score=None,
        driver="OBI", conviction="NORMAL", entry_obi=0.7, entry_roc=0.1, regime="LOW",
        quarantine="", params_hash="h", exit_client_order_id="x",
    )  # fmt: skip
    with capture_logs() as logs:
        console.trade_closed(record)
    assert logs == [
        {
            "event": "trade_closed",
            "log_level": "info",
            "lane": "paper",
            "ticker": "KXBTC15M-X",
            "direction": "LONG",
            "contracts": 10.0,
            "entry": 0.42,
            "exit": 0.46,
            "pnl": "0.05",
            "reason": "TAKE_PROFIT",
            "quarantined": None,
        }
    ]


def test_an_opened_trade_is_one_info_line():
    record = PositionOpened(
        ts=T0, lane="paper", position_uid="p-1", ticker="KXBTC15M-X", direction="SHORT",
        count=500, entry_yes_price=6100, cost=1_950_000, fees=80_000, driver="ROC",
        conviction="HIGH", entry_obi=None, entry_roc=-0.5, regime="MEDIUM", params_hash="h",
        entry_client_order_id="e",
    )  # fmt: skip
    with capture_logs() as logs:
        console.trade_opened(record)
    assert [(e["event"], e["log_level"], e["cost"], e["entry"]) for e in logs] == [
        ("trade_opened", "info", "1.95", 0.61)
    ]


@pytest.mark.parametrize(
    ("reason", "halts", "state", "enforced"),
    [
        ("MAX_DRAWDOWN_HALT", False, "MAX_DRAWDOWN_HALT", False),
        ("DAILY_LOSS_LIMIT", True, "DAILY_LOSS_LIMIT", True),
        ("", False, "cleared", None),
    ],
)
def test_a_breaker_change_says_whether_it_is_enforced(reason, halts, state, enforced):
    record = BreakerChanged(ts=T0, lane="paper", reason=reason, halts=halts, bankroll=790_000_000)
    with capture_logs() as logs:
        console.breaker_changed(record)
    assert [(e["event"], e["state"], e["enforced"], e["bankroll"]) for e in logs] == [
        ("breaker_changed", state, enforced, "790.00")
    ]


@pytest.mark.django_db(transaction=True)  # the line follows the commit
def test_each_control_is_one_info_line_applied_or_refused():
    robot = controls.Actor.process("tuner")
    with capture_logs() as logs:
        controls.trading_pause_set(paused=True, actor=robot)
        with pytest.raises(controls.ControlRefused):
            controls.trading_mode_set(mode="live", actor=robot)
    lines = [(e["event"], e["log_level"], e["action"], e["actor"]) for e in logs]
    assert lines == [
        ("control", "info", "trading_pause_set", "tuner"),
        ("control_refused", "info", "trading_mode_set", "tuner"),
    ]
