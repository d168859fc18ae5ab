"""Backtest metrics from a trade list and an equity curve (domain.md §4.3) and the signal
accuracy of §4.6, pure.

Kept as the original computes them, so reports stay comparable: per-trade returns are
``pnl_frac`` (net PnL over the premium paid); Sharpe is their mean over their sample stdev,
annualised by √max(trades per day × 365, 1); Sortino uses the stdev of the negative returns
(0 with fewer than two); the drawdown is read on the equity curve (bankroll after each close,
from the starting bankroll). Money stays integer micro-dollars. Where the original reports
infinity (recovery with no drawdown, profit factor with no losses) the figure is ``None``:
JSON and the database have no infinity.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from attribution.breakdown import TradeOutcome

DAY_MS = 86_400_000

# domain.md §4.3: what a parameter set must reach before anyone trusts it
MIN_TRADES = 200
MIN_WIN_RATE = 0.52
MIN_SHARPE = 1.0
MAX_DRAWDOWN = 0.20
MIN_PROFIT_FACTOR = 1.2
# ... and what looks too good (or too thin) to be true
RED_FLAG_SHARPE = 3.0
RED_FLAG_WIN_RATE = 0.70
RED_FLAG_MIN_TRADES = 50


def max_drawdown(equity: Sequence[int]) -> float:
    """Largest fall from a running peak, as a fraction of that peak."""
    peak, worst = 0, 0.0
    for value in equity:
        peak = max(peak, value)
        if peak > 0:
            worst = max(worst, (peak - value) / peak)
    return worst


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile of already sorted values (None when empty)."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def compute(trades: Sequence[TradeOutcome], *, bankroll: int) -> dict[str, Any]:
    """Every §4.3 figure, the minimum thresholds and the red flags, as plain JSON."""
    returns = [t.pnl_frac for t in trades]
    equity = [bankroll]
    for trade in trades:
        equity.append(equity[-1] + trade.pnl)
    count = len(trades)
    span_days = (trades[-1].ts - trades[0].opened_ts) / DAY_MS if trades else 0.0
    total_days = max(1.0, span_days)
    per_day = count / total_days
    annualise = math.sqrt(max(per_day * 365, 1))
    mean = statistics.fmean(returns) if returns else 0.0
    stdev = statistics.stdev(returns) if count >= 2 else 0.0
    negatives = [r for r in returns if r < 0]
    downside = statistics.stdev(negatives) if len(negatives) >= 2 else 0.0
    sharpe = mean / stdev * annualise if stdev > 0 else 0.0
    sortino = mean / downside * annualise if downside > 0 else 0.0
    wins = [t for t in trades if t.pnl_frac > 0]
    losses = [t for t in trades if t.pnl_frac < 0]
    win_sum = sum(t.pnl_frac for t in wins)
    loss_sum = sum(t.pnl_frac for t in losses)
    avg_win_money = sum(t.pnl for t in wins) / len(wins) if wins else 0.0
    avg_loss_money = -sum(t.pnl for t in losses) / len(losses) if losses else 0.0
    drawdown = max_drawdown(equity)
    net = equity[-1] - bankroll
    total_return = net / bankroll if bankroll else 0.0
    holds = sorted((t.ts - t.opened_ts) / 1000 for t in trades)
    win_rate = len(wins) / count if count else 0.0
    profit_factor = win_sum / -loss_sum if loss_sum < 0 else (None if win_sum > 0 else 0.0)
    figures: dict[str, Any] = {
        "trades": count,
        "total_days": total_days,
        "trades_per_day": per_day,
        "net_pnl": net,
        "fees": sum(t.fees for t in trades),
        "final_bankroll": equity[-1],
        "total_return": total_return,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": drawdown,
        "recovery_factor": abs(total_return) / drawdown if drawdown > 0 else None,
        "win_rate": win_rate,
        "avg_win_frac": win_sum / len(wins) if wins else 0.0,
        "avg_loss_frac": loss_sum / len(losses) if losses else 0.0,
        "best_frac": max(returns, default=0.0),
        "worst_frac": min(returns, default=0.0),
        "profit_factor": profit_factor,
        "break_even_win_rate": (
            avg_loss_money / (avg_win_money + avg_loss_money)
            if wins and losses and avg_win_money + avg_loss_money > 0
            else 0.5
        ),
        "exit_reasons": dict(Counter(t.reason for t in trades).most_common()),
        "hold_seconds": {
            "p10": percentile(holds, 0.10),
            "p50": percentile(holds, 0.50),
            "p90": percentile(holds, 0.90),
            "mean": statistics.fmean(holds) if holds else None,
        },
    }
    figures["thresholds"] = thresholds(figures)
    figures["red_flags"] = red_flags(figures)
    return figures


def thresholds(figures: dict[str, Any]) -> dict[str, Any]:
    checks = {
        f"trades >= {MIN_TRADES}": figures["trades"] >= MIN_TRADES,
        f"win_rate >= {MIN_WIN_RATE}": figures["win_rate"] >= MIN_WIN_RATE,
        f"sharpe >= {MIN_SHARPE}": figures["sharpe"] >= MIN_SHARPE,
        f"max_drawdown <= {MAX_DRAWDOWN}": figures["max_drawdown"] <= MAX_DRAWDOWN,
        f"profit_factor >= {MIN_PROFIT_FACTOR}": (
            figures["profit_factor"] is None or figures["profit_factor"] >= MIN_PROFIT_FACTOR
        ),
    }
    return {"passes_minimum": all(checks.values()), "checks": checks}


def red_flags(figures: dict[str, Any]) -> list[str]:
    flags = []
    if figures["sharpe"] > RED_FLAG_SHARPE:
        flags.append(f"sharpe {figures['sharpe']:.2f} > {RED_FLAG_SHARPE}: likely overfit")
    if figures["win_rate"] > RED_FLAG_WIN_RATE:
        flags.append(f"win rate {figures['win_rate']:.2f} > {RED_FLAG_WIN_RATE}: likely overfit")
    if figures["trades"] < RED_FLAG_MIN_TRADES:
        flags.append(f"{figures['trades']} trades < {RED_FLAG_MIN_TRADES}: too few to judge")
    return flags


# The signals a trade's driver label names (domain.md §0: "OBI+ROC", "OBI", "ROC", with an
# optional "/TIGHT" or "/WIDE" spread suffix). "OBI/ROC" (a conflict) never trades; an
# orphan's "UNKNOWN" or "-" names none.
SIGNALS = ("OBI", "ROC")
_FIRED = {"OBI+ROC": SIGNALS, "OBI": ("OBI",), "ROC": ("ROC",)}


class SignalOutcome(Protocol):
    @property
    def ticker(self) -> str: ...
    @property
    def direction(self) -> str: ...  # LONG or SHORT
    @property
    def driver(self) -> str: ...
    @property
    def pnl(self) -> int: ...  # net, micro-dollars


def signals_fired(driver: str) -> tuple[str, ...]:
    """The signals that pointed the trade's way at entry, read from its driver label."""
    base = driver.removesuffix("/TIGHT").removesuffix("/WIDE")
    return _FIRED.get(base, ())


def signal_accuracy(
    trades: Sequence[SignalOutcome], settlements: Mapping[str, str]
) -> dict[str, Any]:
    """Signal accuracy (domain.md §4.6: OBI/ROC correct / incorrect / neutral), per trade.

    A signal's direction at entry is the trade's direction when the trade's driver names it
    (the resolver trades only when the signals that fired agree, so a fired signal pointed
    the trade's way); otherwise the signal was **neutral** (absent, below its threshold or
    flat) for that trade. A fired signal is judged twice:

    - ``settlement``: against the contract's result, the outcome the signal predicts: a LONG
      (YES) is **correct** when the contract settled YES, a SHORT when it settled NO;
      **unsettled** when the data carried no result for the contract (it settled after
      the period);
    - ``trade``: against the trade's result after exits and fees: **correct** when its net
      PnL is positive (a win, as §4.3 counts them).

    ``accuracy`` is correct / (correct + incorrect), None when no signal was judged.
    """
    out: dict[str, Any] = {"trades": len(trades)}
    for signal in SIGNALS:
        on_settlement = {"correct": 0, "incorrect": 0, "neutral": 0, "unsettled": 0}
        on_trade = {"correct": 0, "incorrect": 0, "neutral": 0}
        for trade in trades:
            if signal not in signals_fired(trade.driver):
                on_settlement["neutral"] += 1
                on_trade["neutral"] += 1
                continue
            result = settlements.get(trade.ticker)
            if result is None:
                on_settlement["unsettled"] += 1
            elif (result == "yes") == (trade.direction == "LONG"):
                on_settlement["correct"] += 1
            else:
                on_settlement["incorrect"] += 1
            on_trade["correct" if trade.pnl > 0 else "incorrect"] += 1
        out[signal] = {
            "settlement": {**on_settlement, "accuracy": _accuracy(on_settlement)},
            "trade": {**on_trade, "accuracy": _accuracy(on_trade)},
        }
    return out


def _accuracy(counts: Mapping[str, int]) -> float | None:
    judged = counts["correct"] + counts["incorrect"]
    return counts["correct"] / judged if judged else None
