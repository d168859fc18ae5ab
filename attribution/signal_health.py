"""Signal health of a set of trades (domain.md §6.1 with its [FIX]): pure, no Django.

- win rate: share of trades with PnL > 0; Sharpe: mean / sample stdev of ``pnl_frac`` per
  trade (not annualised, as the original);
- a real information coefficient: Spearman rank correlation of each signal's value at
  entry with what followed. ``*_outcome`` ranks the signal **in the traded direction**
  (OBI − 0.5 or ROC, negated for shorts: how strongly it pointed the way we traded) against
  the trade's ``pnl_frac``; ``*_move`` ranks the raw signal against the YES price's move
  over the hold (exit fill − entry fill, YES space; the stored trade keeps fills, not
  mids). The original's "IC" ranked the trade's sequence number against its PnL: a trend
  of results, not of the signal's worth.

Alerts against a baseline (the same figures, stored with the date they were taken):
an outcome IC under 0.03, a win rate more than 5 points under the baseline's, a Sharpe
more than 30 % under a positive baseline's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import pandas as pd

MIN_TRADES = 20  # below this the figures are noise: no verdict
MIN_IC_PAIRS = 10
IC_MIN = 0.03
WIN_RATE_DROP_MAX = 0.05
SHARPE_DROP_MAX = 0.30


class SignalTrade(Protocol):
    @property
    def pnl_frac(self) -> float: ...
    @property
    def direction(self) -> str: ...  # LONG or SHORT
    @property
    def entry_obi(self) -> float | None: ...
    @property
    def entry_roc(self) -> float | None: ...
    @property
    def entry_yes_price(self) -> int: ...  # YES space
    @property
    def exit_yes_price(self) -> int: ...


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Rank correlation (ties share their average rank); None when undefined (fewer than
    ``MIN_IC_PAIRS`` pairs, or one side constant)."""
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} values against {len(ys)}")
    if len(xs) < MIN_IC_PAIRS or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    # Pearson of the average ranks is Spearman's rho with ties handled (pandas' own
    # "spearman" hands off to scipy, which this project does not pin).
    x_ranks = pd.Series(xs, dtype=float).rank(method="average")
    y_ranks = pd.Series(ys, dtype=float).rank(method="average")
    return float(x_ranks.corr(y_ranks))


def _ic(trades: Sequence[SignalTrade], signal: str, centre: float) -> dict[str, Any]:
    pairs = [(getattr(t, signal), t) for t in trades if getattr(t, signal) is not None]
    signs = [1.0 if t.direction == "LONG" else -1.0 for _, t in pairs]
    return {
        "n": len(pairs),
        "outcome": spearman(
            [(value - centre) * sign for (value, _), sign in zip(pairs, signs, strict=True)],
            [t.pnl_frac for _, t in pairs],
        ),
        "move": spearman(
            [value for value, _ in pairs],
            [float(t.exit_yes_price - t.entry_yes_price) for _, t in pairs],
        ),
    }


def signal_health(trades: Sequence[SignalTrade]) -> dict[str, Any]:
    count = len(trades)
    returns = [t.pnl_frac for t in trades]
    mean = sum(returns) / count if count else 0.0
    sharpe = None
    if count >= 2:
        stdev = math.sqrt(sum((r - mean) ** 2 for r in returns) / (count - 1))
        sharpe = mean / stdev if stdev > 0 else None
    return {
        "trades": count,
        "enough": count >= MIN_TRADES,
        "win_rate": sum(1 for r in returns if r > 0) / count if count else None,
        "sharpe": sharpe,
        "ic": {"obi": _ic(trades, "entry_obi", 0.5), "roc": _ic(trades, "entry_roc", 0.0)},
    }


def health_alerts(health: dict[str, Any], baseline: dict[str, Any] | None) -> list[str]:
    """The §6.1 rules; nothing while there are fewer than ``MIN_TRADES`` trades."""
    if not health["enough"]:
        return []
    alerts = []
    for signal, ic in health["ic"].items():
        if ic["outcome"] is not None and ic["outcome"] < IC_MIN:
            alerts.append(f"{signal.upper()} IC {ic['outcome']:.3f} < {IC_MIN}")
    if baseline is None:
        return alerts
    if (
        baseline["win_rate"] is not None
        and health["win_rate"] is not None
        and baseline["win_rate"] - health["win_rate"] > WIN_RATE_DROP_MAX
    ):
        alerts.append(f"win rate {health['win_rate']:.1%} vs baseline {baseline['win_rate']:.1%}")
    base_sharpe, sharpe = baseline["sharpe"], health["sharpe"]
    if (
        base_sharpe is not None
        and base_sharpe > 0
        and sharpe is not None
        and (base_sharpe - sharpe) / base_sharpe > SHARPE_DROP_MAX
    ):
        alerts.append(f"Sharpe {sharpe:.2f} vs baseline {base_sharpe:.2f}")
    return alerts
