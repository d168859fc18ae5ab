"""scripts/calibration.py: the figures of docs/strategy.md's calibration section."""

import datetime as dt
import importlib.util
import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from backtests.models import BacktestRun, BacktestTrade
from trading.engine.params import DEFAULT_PARAMS

_PATH = Path(__file__).resolve().parent.parent / "scripts" / "calibration.py"
_spec = importlib.util.spec_from_file_location("calibration", _PATH)
assert _spec is not None
assert _spec.loader is not None
calibration = importlib.util.module_from_spec(_spec)
sys.modules["calibration"] = calibration
_spec.loader.exec_module(calibration)

OPEN = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def trade(
    hold_s: float,
    pnl_pct: float,
    pnl: str,
    reason: str,
    *,
    direction: str = "LONG",
    entry_price: str = "0.40",
    result: str = "",
) -> BacktestTrade:
    return BacktestTrade(
        direction=direction,
        entry_price=Decimal(entry_price),
        contract_result=result,
        opened_at=OPEN,
        closed_at=OPEN + dt.timedelta(seconds=hold_s),
        pnl=Decimal(pnl),
        fees=Decimal("0.50"),
        pnl_pct=pnl_pct,
        exit_reason=reason,
    )


def test_figures_count_wins_money_reasons_sharpe_and_exits_near_min_hold():
    trades = [
        trade(115, 0.5, "2.00", "TAKE_PROFIT"),  # 5 s before min_hold_s: near
        trade(125, -0.5, "-2.00", "STOP_LOSS"),  # 5 s after: near
        trade(125.001, -0.25, "-1.00", "STOP_LOSS"),
        trade(600, 0.0, "0", "EXPIRY_GUARD"),  # break-even is not a win
    ]
    result = calibration.figures(trades, days=2.0, min_hold_s=120)
    assert (result["trades"], result["win_rate"]) == (4, 0.25)
    assert (result["net_pnl"], result["fees"]) == (-1.0, 2.0)
    assert result["exit_reasons"] == {"STOP_LOSS": 2, "TAKE_PROFIT": 1, "EXPIRY_GUARD": 1}
    assert result["near_min_hold"] == 0.5
    assert result["median_hold_s"] == 125.0
    # mean -0.0625, sample stdev 0.4270, annualised by √(4 trades / 2 days × 365)
    # mean -0.0625 over a sample stdev of 0.42696, annualised by √(4 trades / 2 days × 365)
    assert result["sharpe"] == -3.96


def test_settlement_edge_compares_the_price_paid_with_the_settled_side():
    trades = [
        trade(120, 0.1, "1", "TAKE_PROFIT", entry_price="0.40", result="yes"),  # paid 0.40, right
        trade(120, -0.1, "-1", "STOP_LOSS", entry_price="0.60", result="yes"),  # paid 0.60, right
        # a short at YES 0.70 pays 0.30 for NO; YES settled: wrong
        trade(120, -0.1, "-1", "STOP_LOSS", direction="SHORT", entry_price="0.70", result="yes"),
        trade(120, 0.1, "1", "TAKE_PROFIT", direction="SHORT", entry_price="0.20", result="no"),
        trade(120, 0.1, "1", "TAKE_PROFIT", result=""),  # settled after the period: left out
    ]
    result = calibration.figures(trades, days=1.0, min_hold_s=120)
    assert result["settled"] == 4
    assert result["implied_p"] == round((0.40 + 0.60 + 0.30 + 0.80) / 4, 4)
    assert result["settled_right"] == 0.75


def test_no_trades_give_zeros_not_an_error():
    result = calibration.figures([], days=5.0, min_hold_s=120)
    assert (result["trades"], result["sharpe"], result["near_min_hold"]) == (0, 0.0, 0.0)
    assert result["median_hold_s"] is None
    assert (result["settled"], result["implied_p"], result["settled_right"]) == (0, None, None)


def test_a_bad_command_line_is_refused_with_the_usage(capsys):
    assert calibration.main(["runs", "x"]) == 2
    assert calibration.main(["study"]) == 2
    assert calibration.main(["study", "1", "2"]) == 2
    assert calibration.main(["sets", "1"]) == 2
    assert "usage: calibration.py" in capsys.readouterr().err


def stored_run(name: str, start: dt.datetime, days: int, trades: list[BacktestTrade]) -> int:
    params = DEFAULT_PARAMS.to_dict()
    run = BacktestRun.objects.create(
        name=name, lane="paper", source="history", code_version="test", params=params,
        params_hash=DEFAULT_PARAMS.params_hash(), period_start=start,
        period_end=start + dt.timedelta(days=days), bankroll=Decimal(1000), status="done",
    )  # fmt: skip
    for number, one in enumerate(trades):
        one.run, one.position_uid, one.ticker = run, f"p{number}", "T"
        one.contracts = one.entry_cost = one.exit_proceeds = Decimal(1)
        one.exit_price = one.entry_price
        one.save()
    return run.pk


@pytest.mark.django_db
def test_runs_of_one_set_are_pooled_over_their_stretches(capsys):
    first = stored_run("default", OPEN, 2, [trade(120, 0.5, "2", "TAKE_PROFIT")])
    second = stored_run(
        "default",
        OPEN + dt.timedelta(days=30),
        3,
        [trade(200, -0.5, "-3", "STOP_LOSS"), trade(121, -0.1, "-1", "STOP_LOSS")],
    )
    assert calibration.main(["runs", str(first), str(second)]) == 0
    pooled, *per_pass = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert (pooled["set"], pooled["runs"], pooled["days"]) == ("default", [first, second], 5.0)
    assert (pooled["trades"], pooled["net_pnl"], pooled["fees"]) == (3, -2.0, 1.5)
    assert pooled["near_min_hold"] == round(2 / 3, 4)
    assert [(p["run"], p["trades"], p["period"][0]) for p in per_pass] == [
        (first, 1, "2026-01-01"),
        (second, 2, "2026-01-31"),
    ]
    assert calibration.main(["runs", str(second + 1)]) == 1
    assert "no such runs" in capsys.readouterr().err
