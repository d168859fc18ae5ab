"""Walk-forward (domain.md §4.4), pure: window cuts, cutting one pass by entry time,
per-window selection, the majority vote, consistency, diagnosis and recommendation."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from backtests.walkforward import (
    DAY_MS,
    Candidate,
    WalkForwardError,
    cut_windows,
    diagnose,
    edge_consistency,
    lane_windows,
    majority_vote,
    recommend,
    select_windows,
    summarise,
    trades_between,
)

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
    reason: str = "TP"


def test_default_windows_are_36_5_5_days_and_stop_inside_the_period():
    windows = cut_windows(0, 56 * DAY_MS, train_days=36, test_days=5, step_days=5)
    assert [(w.train_start, w.train_end, w.test_end) for w in windows] == [
        (0, 36 * DAY_MS, 41 * DAY_MS),
        (5 * DAY_MS, 41 * DAY_MS, 46 * DAY_MS),
        (10 * DAY_MS, 46 * DAY_MS, 51 * DAY_MS),
        (15 * DAY_MS, 51 * DAY_MS, 56 * DAY_MS),
    ]
    assert [w.index for w in windows] == [0, 1, 2, 3]
    # a test part that would end a minute after the period is not cut
    assert len(cut_windows(0, 56 * DAY_MS - 60_000, train_days=36, test_days=5, step_days=5)) == 3


def test_fractional_days_and_a_step_longer_than_the_test():
    windows = cut_windows(0, 2 * DAY_MS, train_days=0.5, test_days=0.25, step_days=0.5)
    assert [(w.train_start, w.test_end) for w in windows] == [
        (0, DAY_MS * 3 // 4),
        (DAY_MS // 2, DAY_MS * 5 // 4),
        (DAY_MS, DAY_MS * 7 // 4),
    ]


def test_a_period_shorter_than_one_window_or_bad_lengths_are_refused():
    with pytest.raises(WalkForwardError, match="fewer than one window"):
        cut_windows(0, 40 * DAY_MS, train_days=36, test_days=5, step_days=5)
    with pytest.raises(WalkForwardError, match="must be positive"):
        cut_windows(0, 40 * DAY_MS, train_days=36, test_days=0, step_days=5)


def test_trades_belong_to_the_part_they_were_entered_in():
    # entered a minute before the boundary, closed after it: a train trade
    crossing = T(DAY_MS - 60_000, DAY_MS + 300_000, 1, 0.1)
    later = T(DAY_MS, DAY_MS + 60_000, 1, 0.1)
    assert trades_between([crossing, later], 0, DAY_MS) == [crossing]
    assert trades_between([crossing, later], DAY_MS, 2 * DAY_MS) == [later]
    windows = cut_windows(0, 2 * DAY_MS, train_days=1, test_days=1, step_days=1)
    cut = lane_windows([crossing, later], windows, bankroll=BANKROLL)
    assert cut[0]["train"]["trades"] == 1
    assert cut[0]["test"]["trades"] == 1


def row(test_sharpe, params, *, train_sharpe=2.0, dropped=""):
    return {
        "test_sharpe": test_sharpe,
        "train_sharpe": train_sharpe,
        "gap": train_sharpe - test_sharpe,
        "params": params,
        "dropped": dropped,
    }


def test_majority_vote_counts_only_strong_windows_per_parameter():
    rows = [
        row(1.0, {"stop_loss_frac": 0.02, "roc_lookback": 3}),
        row(0.8, {"stop_loss_frac": 0.03, "roc_lookback": 3}),
        row(0.9, {"stop_loss_frac": 0.03, "roc_lookback": 4}),
        # weak (test Sharpe 0.5 is not > 0.5) and dropped windows do not vote
        row(0.5, {"stop_loss_frac": 0.04, "roc_lookback": 4}),
        row(0.2, {"stop_loss_frac": 0.04, "roc_lookback": 4}),
        row(3.0, {"stop_loss_frac": 0.04, "roc_lookback": 4}, dropped="12 test trades < 30"),
    ]
    assert majority_vote(rows) == {"stop_loss_frac": 0.03, "roc_lookback": 3}
    # a tie goes to the value chosen first
    assert majority_vote(rows[1:3]) == {"stop_loss_frac": 0.03, "roc_lookback": 3}
    assert majority_vote([row(0.1, {"x": 1})]) == {}
    assert edge_consistency(rows) == 3 / 5


def test_diagnosis_flags_and_recommendations_follow_the_original_order():
    overfit = diagnose([row(0.3, {}, train_sharpe=3.0), row(0.2, {}, train_sharpe=2.9)])
    assert overfit["avg_gap"] == pytest.approx(2.7)
    assert overfit["flags"][0].startswith("HIGH OVERFITTING")
    assert overfit["flags"][1].startswith("INCONSISTENT EDGE")
    assert recommend(overfit).startswith("HIGH OVERFITTING")
    assert recommend(diagnose([row(-0.1, {}, train_sharpe=5.0)])).startswith("ABANDON")
    assert recommend(diagnose([row(1.0, {}, train_sharpe=2.5)])).startswith("MODERATE OVERFITTING")
    good = diagnose([row(1.5, {}, train_sharpe=2.0), row(1.2, {}, train_sharpe=1.8)])
    assert good["flags"] == ["EDGE CONFIRMED: average test Sharpe above 1.0 with a gap below 1.0"]
    assert good["pct_positive_test"] == 1.0
    assert recommend(good).startswith("DEPLOY CANDIDATE")
    assert recommend(diagnose([row(0.7, {}, train_sharpe=1.0)])).startswith("MARGINAL")
    assert recommend(diagnose([row(0.7, {}, dropped="no")])).startswith("NO RESULT")


def figures(trades, sharpe):
    return {"trades": trades, "sharpe": sharpe, "sortino": 0.0, "win_rate": 0.5,
            "total_return": 0.0, "profit_factor": 1.0, "net_pnl": 0}  # fmt: skip


def test_selection_skips_thin_sets_and_drops_thin_windows():
    windows = cut_windows(0, 3 * DAY_MS, train_days=1, test_days=1, step_days=1)
    a = Candidate(0, {"v": "a"}, [
        {"train": figures(40, 1.0), "test": figures(40, 0.9)},
        {"train": figures(40, 1.0), "test": figures(10, 5.0)},
    ])  # fmt: skip
    b = Candidate(1, {"v": "b"}, [
        {"train": figures(29, 9.0), "test": figures(40, 9.0)},  # too few train trades
        {"train": figures(40, 2.0), "test": figures(10, 1.0)},
    ])  # fmt: skip
    rows = select_windows([a, b], windows)
    assert rows[0]["trial"] == 0
    assert rows[0]["gap"] == pytest.approx(0.1)
    assert rows[1]["trial"] == 1
    assert rows[1]["dropped"] == "10 test trades < 30"
    result = summarise([a, b], windows)
    assert result["final_params"] == {"v": "a"}
    assert result["edge_consistency"] == 1.0
    assert result["diagnosis"]["windows_kept"] == 1
    assert result["recommendation"].startswith("MARGINAL")
    with pytest.raises(WalkForwardError, match="objective"):
        select_windows([a], windows, objective="luck")
