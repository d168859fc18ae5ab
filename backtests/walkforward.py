"""Walk-forward analysis (domain.md §4.4), pure: window cuts, per-window selection, the
majority vote, edge consistency, the diagnosis and the recommendation.

Windows are in days (the original's 3,500 / 500 / 500 fifteen-minute candles are 36 / 5 / 5
days): window ``k`` trains on ``[start + k·step, + train)`` and tests on the ``test`` days
right after; windows are cut while the test part ends inside the period.

**One pass, many windows.** A parameter set (a research lane) runs once over the whole period
and every window's train and test figures are cut from its trades by the trade's *entry
time* (``opened_ts``): a trade entered in a part belongs to it, even if it closes a few
minutes after the boundary (a contract lives 15 minutes). Separate runs per window would
differ in what crosses a boundary: (1) the market state (ATR, OBI and spread histories) is
warm at a boundary here, while a separate run starts from 60 warm-up candles and empty
histories; (2) a position open at a boundary is kept here, a separate run starts flat; (3)
the lane's bankroll and breaker carry over, so sizes differ. Sharpe, win rate and profit
factor are read on ``pnl_frac`` (PnL over the premium paid), which does not depend on size,
and research lanes trade through breaker trips (``paper_breaker_halts`` off), so (3) leaves
the objective unchanged; (1) and (2) touch a few trades per boundary. We chose the
continuous pass: it costs one pass per parameter group instead of one per window, and a
deployed lane, too, never starts cold at a window's edge.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from attribution.breakdown import TradeOutcome
from backtests.metrics import compute

DAY_MS = 86_400_000
MIN_TRADES = 30  # train: a set with fewer is skipped; test: a window with fewer is dropped
STRONG_SHARPE = 0.5  # a window whose test Sharpe beats this is "strong" (votes, consistency)
OBJECTIVES = ("sharpe", "sortino", "total_return", "profit_factor")


class WalkForwardError(ValueError):
    """Window lengths or a period that cannot give a walk-forward; the message says why."""


@dataclass(frozen=True, slots=True)
class Window:
    index: int
    train_start: int
    train_end: int  # = test start
    test_end: int

    def as_dict(self) -> dict[str, int]:
        return {
            "index": self.index,
            "train_start": self.train_start,
            "train_end": self.train_end,
            "test_end": self.test_end,
        }


def cut_windows(
    start_ts: int, end_ts: int, *, train_days: float, test_days: float, step_days: float
) -> list[Window]:
    """The windows of ``[start_ts, end_ts)``; raises ``WalkForwardError`` when none fits."""
    if train_days <= 0 or test_days <= 0 or step_days <= 0:
        raise WalkForwardError(
            f"train, test and step days must be positive, got {train_days}/{test_days}/{step_days}"
        )
    train, test, step = (round(d * DAY_MS) for d in (train_days, test_days, step_days))
    windows: list[Window] = []
    begin = start_ts
    while begin + train + test <= end_ts:
        windows.append(Window(len(windows), begin, begin + train, begin + train + test))
        begin += step
    if not windows:
        raise WalkForwardError(
            f"the period has {(end_ts - start_ts) / DAY_MS:g} days: fewer than one window "
            f"of {train_days:g} train + {test_days:g} test days"
        )
    return windows


def trades_between(trades: Sequence[TradeOutcome], start: int, end: int) -> list[TradeOutcome]:
    """Trades entered in ``[start, end)``, in their order."""
    return [t for t in trades if start <= t.opened_ts < end]


def part_figures(trades: Sequence[TradeOutcome], *, bankroll: int) -> dict[str, Any]:
    """What a window part keeps of §4.3's metrics (plain JSON; ``profit_factor`` None = ∞)."""
    m = compute(trades, bankroll=bankroll)
    return {
        "trades": m["trades"],
        "sharpe": m["sharpe"],
        "sortino": m["sortino"],
        "win_rate": m["win_rate"],
        "total_return": m["total_return"],
        "profit_factor": m["profit_factor"],
        "net_pnl": m["net_pnl"],
    }


def lane_windows(
    trades: Sequence[TradeOutcome], windows: Sequence[Window], *, bankroll: int
) -> list[dict[str, Any]]:
    """One lane's train and test figures per window, cut from its one continuous pass."""
    return [
        {
            "train": part_figures(
                trades_between(trades, w.train_start, w.train_end), bankroll=bankroll
            ),
            "test": part_figures(
                trades_between(trades, w.train_end, w.test_end), bankroll=bankroll
            ),
        }
        for w in windows
    ]


def objective_value(figures: Mapping[str, Any], objective: str) -> float:
    value = figures[objective]
    if value is None:  # a profit factor without losses
        return math.inf
    return float(value)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An evaluated parameter set: its id (the trial number), the searched values and its
    per-window figures (``lane_windows``)."""

    trial: int
    values: Mapping[str, Any]
    windows: Sequence[Mapping[str, Any]]


def select_windows(
    candidates: Sequence[Candidate],
    windows: Sequence[Window],
    *,
    objective: str = "sharpe",
    min_trades: int = MIN_TRADES,
) -> list[dict[str, Any]]:
    """Per window, the candidate with the best train objective among those with at least
    ``min_trades`` train trades (ties: the lower trial number), with its test figures.
    A window without such a candidate, or whose best has fewer than ``min_trades`` test
    trades, is kept with ``dropped`` saying why (it does not count below)."""
    if objective not in OBJECTIVES:
        raise WalkForwardError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective}")
    rows = []
    for window in windows:
        eligible = [
            c for c in candidates if c.windows[window.index]["train"]["trades"] >= min_trades
        ]
        row: dict[str, Any] = {**window.as_dict(), "dropped": ""}
        if not eligible:
            row["dropped"] = f"no parameter set has {min_trades} train trades"
            rows.append(row)
            continue
        best = min(
            eligible,
            key=lambda c: (-objective_value(c.windows[window.index]["train"], objective), c.trial),
        )
        train = best.windows[window.index]["train"]
        test = best.windows[window.index]["test"]
        row.update(
            trial=best.trial,
            params=dict(best.values),
            train_sharpe=train["sharpe"],
            train_trades=train["trades"],
            train_objective=objective_value(train, objective),
            test_sharpe=test["sharpe"],
            test_win_rate=test["win_rate"],
            test_trades=test["trades"],
            test_net_pnl=test["net_pnl"],
            gap=train["sharpe"] - test["sharpe"],
        )
        if test["trades"] < min_trades:
            row["dropped"] = f"{test['trades']} test trades < {min_trades}"
        rows.append(row)
    return rows


def kept(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in rows if not r["dropped"]]


def majority_vote(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per parameter, the value chosen by most windows whose test Sharpe > 0.5 (a tie goes
    to the value first chosen, in window order); {} when no window is strong."""
    strong = [r for r in kept(rows) if r["test_sharpe"] > STRONG_SHARPE]
    votes: dict[str, Counter[Any]] = {}
    for row in strong:
        for name, value in row["params"].items():
            votes.setdefault(name, Counter())[_hashable(value)] += 1
    return {name: counter.most_common(1)[0][0] for name, counter in votes.items()}


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def edge_consistency(rows: Sequence[Mapping[str, Any]]) -> float:
    """Share of the kept windows with test Sharpe > 0.5 (0 without windows)."""
    good = kept(rows)
    if not good:
        return 0.0
    return sum(r["test_sharpe"] > STRONG_SHARPE for r in good) / len(good)


def diagnose(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Averages over the kept windows and the three flags of §4.4."""
    good = kept(rows)
    n = len(good)
    avg_train = sum(r["train_sharpe"] for r in good) / n if n else 0.0
    avg_test = sum(r["test_sharpe"] for r in good) / n if n else 0.0
    avg_gap = sum(r["gap"] for r in good) / n if n else 0.0
    positive = sum(r["test_sharpe"] > 0 for r in good) / n if n else 0.0
    consistency = edge_consistency(rows)
    flags = []
    if avg_gap > 1.0:
        flags.append("HIGH OVERFITTING: the average train-test Sharpe gap is above 1.0")
    if consistency < 0.6:
        flags.append("INCONSISTENT EDGE: fewer than 60% of windows have a test Sharpe above 0.5")
    if avg_test > 1.0 and avg_gap < 1.0:
        flags.append("EDGE CONFIRMED: average test Sharpe above 1.0 with a gap below 1.0")
    return {
        "windows": len(rows),
        "windows_kept": n,
        "avg_train_sharpe": avg_train,
        "avg_test_sharpe": avg_test,
        "avg_gap": avg_gap,
        "pct_positive_test": positive,
        "edge_consistency": consistency,
        "flags": flags,
    }


def recommend(diagnosis: Mapping[str, Any]) -> str:
    """§4.4's recommendation, in its order: ABANDON, HIGH / MODERATE OVERFITTING, DEPLOY
    CANDIDATE, MARGINAL."""
    test, gap = diagnosis["avg_test_sharpe"], diagnosis["avg_gap"]
    if not diagnosis["windows_kept"]:
        return "NO RESULT: no window has enough trades to judge"
    if test < 0:
        return "ABANDON: the average out-of-sample Sharpe is negative"
    if gap > 2:
        return "HIGH OVERFITTING: the train-test Sharpe gap is above 2; do not deploy"
    if gap > 1:
        return "MODERATE OVERFITTING: the train-test Sharpe gap is above 1; paper trade first"
    if test > 1 and gap < 1:
        return "DEPLOY CANDIDATE: out-of-sample Sharpe above 1 with a gap below 1"
    return "MARGINAL: some edge out of sample, not enough to deploy"


def summarise(
    candidates: Sequence[Candidate],
    windows: Sequence[Window],
    *,
    objective: str = "sharpe",
    min_trades: int = MIN_TRADES,
) -> dict[str, Any]:
    """The whole walk-forward result: window rows, final parameters, consistency, diagnosis
    and recommendation (plain JSON)."""
    rows = select_windows(candidates, windows, objective=objective, min_trades=min_trades)
    diagnosis = diagnose(rows)
    return {
        "windows": rows,
        "final_params": majority_vote(rows),
        "edge_consistency": diagnosis["edge_consistency"],
        "diagnosis": diagnosis,
        "recommendation": recommend(diagnosis),
        "stability": stability(rows),
    }


def stability(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per parameter: the values the kept windows chose and the share of the most common."""
    chosen: dict[str, list[Any]] = {}
    for row in kept(rows):
        for name, value in row["params"].items():
            chosen.setdefault(name, []).append(value)
    return {
        name: {
            "values": values,
            "mode_share": Counter(map(_hashable, values)).most_common(1)[0][1] / len(values),
        }
        for name, values in chosen.items()
    }


@dataclass(frozen=True, slots=True)
class Trade:
    """What the walk-forward keeps of a closed trade (a ``TradeOutcome``), stored as
    ``[opened_ts, ts, pnl, pnl_frac, fees, reason]``."""

    opened_ts: int
    ts: int
    pnl: int
    pnl_frac: float
    fees: int
    reason: str
    direction: str = ""
    conviction: str = ""
    regime: str = ""

    def row(self) -> list[Any]:
        return [self.opened_ts, self.ts, self.pnl, self.pnl_frac, self.fees, self.reason]

    @classmethod
    def of(cls, trade: TradeOutcome) -> Trade:
        return cls(trade.opened_ts, trade.ts, trade.pnl, trade.pnl_frac, trade.fees, trade.reason)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Trade:
        return cls(int(row[0]), int(row[1]), int(row[2]), float(row[3]), int(row[4]), str(row[5]))


def train_score(
    windows: Sequence[Mapping[str, Any]], *, objective: str, min_trades: int = MIN_TRADES
) -> float:
    """What a trial tells the sampler: the mean train objective over the windows, a window
    with fewer than ``min_trades`` train trades counting 0 (no edge shown)."""
    values = [
        objective_value(w["train"], objective) if w["train"]["trades"] >= min_trades else 0.0
        for w in windows
    ]
    finite = [v if math.isfinite(v) else 10.0 for v in values]  # a lossless profit factor
    return sum(finite) / len(finite) if finite else 0.0
