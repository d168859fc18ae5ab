"""scripts/strategy_days.py: the figures of docs/strategy.md come from its summary."""

import importlib.util
import sys
from pathlib import Path

import pytest

from trading.engine.params import DEFAULT_PARAMS
from trading.engine.records import PositionClosed

_PATH = Path(__file__).resolve().parent.parent / "scripts" / "strategy_days.py"
_spec = importlib.util.spec_from_file_location("strategy_days", _PATH)
assert _spec is not None
assert _spec.loader is not None
strategy_days = importlib.util.module_from_spec(_spec)
sys.modules["strategy_days"] = strategy_days
_spec.loader.exec_module(strategy_days)


def trade(hold_ms: int, pnl: int, reason: str, fees: int = 10_000) -> PositionClosed:
    return PositionClosed(
        ts=1_000_000 + hold_ms, lane="paper", position_uid="p", ticker="T", direction="LONG",
        opened_ts=1_000_000, count=100, entry_yes_price=5000, exit_yes_price=5000, cost=0,
        proceeds=0, fees=fees, pnl=pnl, pnl_frac=0.0, reason=reason, fill_source="venue_ioc",
        mfe=None, mae=None, min_health_score=None, driver="OBI", conviction="NORMAL",
        entry_obi=None, entry_roc=None, regime="MEDIUM", quarantine="", params_hash="h",
        exit_client_order_id="x",
    )  # fmt: skip


def test_the_summary_counts_wins_money_reasons_and_holds_near_min_hold():
    trades = [
        trade(115_000, 2_500_000, "TAKE_PROFIT"),  # 5 s before min_hold_s: near
        trade(125_000, -1_000_000, "STOP_LOSS"),  # 5 s after: near
        trade(125_001, -1_000_000, "STOP_LOSS"),
        trade(600_000, 0, "EXPIRY_GUARD"),  # break-even is not a win
    ]
    result = strategy_days.summary(trades, DEFAULT_PARAMS)
    assert (result["trades"], result["wins"], result["win_rate"]) == (4, 1, 0.25)
    assert (result["net_pnl_usd"], result["fees_usd"]) == (0.5, 0.04)
    assert result["reasons"] == {"STOP_LOSS": 2, "TAKE_PROFIT": 1, "EXPIRY_GUARD": 1}
    assert result["near_min_hold_share"] == 0.5
    assert result["hold_buckets_s"] == {
        "0-120": 1, "120-126": 2, "126-180": 0, "180-360": 0, "360-540": 0, "540-900": 1,
        "900+": 0,
    }  # fmt: skip
    assert result["hold_s"]["min"] == 115.0
    assert result["hold_s"]["max"] == 600.0
    assert strategy_days.summary([], DEFAULT_PARAMS)["win_rate"] is None


def test_a_day_runs_the_paper_lane_through_the_session_and_repeats():
    first = strategy_days.run_day(
        "2026-01-01", seed=11, history=None, params=DEFAULT_PARAMS, minutes=60
    )
    again = strategy_days.run_day(
        "2026-01-01", seed=11, history=None, params=DEFAULT_PARAMS, minutes=60
    )
    assert first
    assert first == again
    assert {t.lane for t in first} == {"paper"}


def test_overrides_are_parsed_as_json_and_a_bare_name_is_refused():
    assert strategy_days.parse_overrides(["stop_loss_frac=0.25", "min_hold_s=900"]) == {
        "stop_loss_frac": 0.25,
        "min_hold_s": 900,
    }
    with pytest.raises(SystemExit, match="expected name=value"):
        strategy_days.parse_overrides(["stop_loss_frac"])
