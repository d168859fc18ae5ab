"""§4.3 metrics: the original's formulas on hand-made trade lists."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import pytest

from backtests.metrics import compute, max_drawdown, percentile, signal_accuracy, signals_fired

DAY = 86_400_000
BANKROLL = 1_000_000_000


@dataclass(frozen=True)
class T:
    opened_ts: int
    ts: int
    pnl: int
    pnl_frac: float
    fees: int = 0
    direction: str = "LONG"
    conviction: str = "NORMAL"
    regime: str = "LOW"
    reason: str = "STOP_LOSS"


def trades_of(fracs, *, cost=100_000_000, every=DAY // 4, hold=120_000):
    return [
        T(i * every, i * every + hold, round(f * cost), f, reason="TP" if f > 0 else "SL")
        for i, f in enumerate(fracs)
    ]


def test_sharpe_sortino_and_annualisation_follow_the_original():
    fracs = [0.1, -0.05, 0.2, -0.1, 0.05, -0.02, 0.15, 0.03]
    trades = trades_of(fracs)
    m = compute(trades, bankroll=BANKROLL)
    days = (trades[-1].ts - trades[0].opened_ts) / DAY
    annual = math.sqrt(len(fracs) / max(1.0, days) * 365)
    assert m["sharpe"] == pytest.approx(statistics.fmean(fracs) / statistics.stdev(fracs) * annual)
    negatives = [f for f in fracs if f < 0]
    assert m["sortino"] == pytest.approx(
        statistics.fmean(fracs) / statistics.stdev(negatives) * annual
    )
    assert m["win_rate"] == 5 / 8
    assert m["profit_factor"] == pytest.approx(0.53 / 0.17)
    assert m["avg_win_frac"] == pytest.approx(0.53 / 5)
    assert m["avg_loss_frac"] == pytest.approx(-0.17 / 3)
    assert (m["best_frac"], m["worst_frac"]) == (0.2, -0.1)
    avg_win, avg_loss = 0.53 / 5 * 1e8, 0.17 / 3 * 1e8
    assert m["break_even_win_rate"] == pytest.approx(avg_loss / (avg_win + avg_loss))
    assert m["net_pnl"] == sum(t.pnl for t in trades)
    assert m["exit_reasons"] == {"TP": 5, "SL": 3}
    assert m["hold_seconds"]["p50"] == 120


def test_drawdown_return_and_recovery_are_read_on_the_equity_curve():
    trades = [
        T(0, 1, 100_000_000, 0.5),  # 1000 → 1100
        T(2, 3, -330_000_000, -0.9),  # → 770: 30 % below the peak
        T(4, 5, 30_000_000, 0.1),  # → 800
    ]
    m = compute(trades, bankroll=BANKROLL)
    assert m["max_drawdown"] == pytest.approx(0.3)
    assert m["total_return"] == pytest.approx(-0.2)
    assert m["recovery_factor"] == pytest.approx(0.2 / 0.3)
    assert m["final_bankroll"] == 800_000_000


def test_infinite_figures_are_none_and_the_minimum_needs_everything():
    wins = trades_of([0.1] * 250)
    m = compute(wins, bankroll=BANKROLL)
    assert m["profit_factor"] is None
    assert m["recovery_factor"] is None
    assert m["sortino"] == 0.0  # fewer than two negative returns
    assert m["thresholds"]["checks"]["profit_factor >= 1.2"]
    # all identical returns: no stdev, Sharpe 0 — fails the minimum on Sharpe alone
    assert m["sharpe"] == 0.0
    assert m["thresholds"]["passes_minimum"] is False
    assert m["red_flags"] == ["win rate 1.00 > 0.7: likely overfit"]


def test_a_strong_honest_list_passes_and_a_thin_one_is_flagged():
    fracs = [0.10, -0.09, 0.08, -0.08, 0.09, 0.07, -0.10, 0.09, -0.09, 0.05] * 25
    m = compute(trades_of(fracs, every=DAY), bankroll=BANKROLL)
    assert m["trades"] == 250
    assert 0.52 <= m["win_rate"] <= 0.70
    assert 1.0 <= m["sharpe"] <= 3.0
    assert m["thresholds"]["passes_minimum"], m["thresholds"]
    assert m["red_flags"] == []
    thin = compute(trades_of([0.1, -0.1]), bankroll=BANKROLL)
    assert thin["red_flags"] == ["2 trades < 50: too few to judge"]


def test_no_trades_reports_zeros_not_errors():
    m = compute([], bankroll=BANKROLL)
    assert (m["trades"], m["net_pnl"], m["sharpe"], m["max_drawdown"]) == (0, 0, 0.0, 0.0)
    assert m["hold_seconds"]["p10"] is None


def test_helpers():
    assert max_drawdown([10, 12, 6, 13, 12]) == pytest.approx(0.5)
    assert max_drawdown([]) == 0.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([5.0], 0.9) == 5.0


@dataclass(frozen=True)
class S:
    ticker: str
    direction: str
    driver: str
    pnl: int


def test_signal_accuracy_counts_each_signal_against_settlement_and_trade_result():
    trades = [
        S("A", "LONG", "OBI+ROC", 5),  # A settled yes: both right, and the trade won
        S("B", "LONG", "OBI", -3),  # B settled no: OBI wrong, ROC neutral, trade lost
        S("B", "SHORT", "ROC/TIGHT", 0),  # B no: ROC right on settlement, trade flat = not a win
        S("C", "SHORT", "OBI+ROC/WIDE", 7),  # C unsettled: both unsettled, trade won
        S("A", "SHORT", "UNKNOWN", -1),  # an orphan: no signal named, neutral for both
        S("D", "LONG", "-", 2),  # D settled yes, but no signal fired: neutral
    ]
    accuracy = signal_accuracy(trades, {"A": "yes", "B": "no", "D": "yes"})
    assert accuracy == {
        "trades": 6,
        "OBI": {
            "settlement": {
                "correct": 1, "incorrect": 1, "neutral": 3, "unsettled": 1, "accuracy": 0.5
            },
            "trade": {"correct": 2, "incorrect": 1, "neutral": 3, "accuracy": 2 / 3},
        },
        "ROC": {
            "settlement": {
                "correct": 2, "incorrect": 0, "neutral": 3, "unsettled": 1, "accuracy": 1.0
            },
            "trade": {"correct": 2, "incorrect": 1, "neutral": 3, "accuracy": 2 / 3},
        },
    }  # fmt: skip


def test_signal_accuracy_without_trades_or_fired_signals_has_no_accuracy():
    empty = signal_accuracy([], {})
    assert empty["trades"] == 0
    assert empty["OBI"]["settlement"]["accuracy"] is None
    assert empty["ROC"]["trade"] == {"correct": 0, "incorrect": 0, "neutral": 0, "accuracy": None}
    only_roc = signal_accuracy([S("A", "SHORT", "ROC", 1)], {"A": "no"})
    assert only_roc["OBI"]["settlement"]["neutral"] == 1
    assert only_roc["OBI"]["settlement"]["accuracy"] is None
    assert only_roc["ROC"]["settlement"]["correct"] == 1
    assert signals_fired("OBI/ROC") == ()  # a conflict never trades; nothing is credited
