"""Per-lane bankroll bookkeeping and circuit breaker (domain.md §3.14, §13 point 6).

Trips on the daily loss (vs the bankroll at 00:00 UTC), the weekly loss (vs Monday
00:00 UTC) or the drawdown from the peak. Baselines roll over on event time, the same way
on both lanes (the original never rolled the live lane's baselines, §11.1). A drawdown
trip stays until an operator resets it (``reset_drawdown``). The paper lane records trips
but halts only when ``paper_breaker_halts`` is set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from trading.engine.params import Params
from trading.engine.sizing import exact

DAY_MS = 86_400_000


def day_index(ts: int) -> int:
    return ts // DAY_MS


def week_index(ts: int) -> int:
    """Weeks starting Monday 00:00 UTC (1970-01-01 was a Thursday)."""
    return (ts // DAY_MS + 3) // 7


@dataclass(slots=True)
class Breaker:
    bankroll: int  # micro-dollars
    peak: int
    daily_start: int
    weekly_start: int
    day: int | None = None
    week: int | None = None
    drawdown_latched: bool = False
    reason: str = ""  # current trip reason, "" when clear

    @classmethod
    def fresh(cls, bankroll: int) -> Breaker:
        return cls(bankroll, bankroll, bankroll, bankroll)

    def roll(self, now: int) -> bool:
        """Move baselines to the current bankroll at 00:00 UTC / Monday 00:00 UTC."""
        day, week = day_index(now), week_index(now)
        rolled = False
        if self.day is not None and day != self.day:
            self.daily_start = self.bankroll
            rolled = True
        if self.week is not None and week != self.week:
            self.weekly_start = self.bankroll
            rolled = True
        self.day, self.week = day, week
        return rolled

    def apply_pnl(self, pnl: int) -> int:
        """Book a realised PnL; returns how far it raised the peak (0 if it did not)."""
        self.bankroll += pnl
        if self.bankroll <= self.peak:
            return 0
        raised, self.peak = self.bankroll - self.peak, self.bankroll
        return raised

    def reverse(self, pnl: int, peak_raised: int) -> None:
        """Undo a quarantined trade's whole bankroll effect (domain.md §3.14): its PnL and
        the part of the peak it raised, so its profit is never read as a drawdown."""
        self.bankroll -= pnl
        self.peak = max(self.peak - peak_raised, self.bankroll)

    def reset_drawdown(self) -> None:
        """Operator action: peak = daily = weekly baselines = current bankroll."""
        self.peak = self.daily_start = self.weekly_start = self.bankroll
        self.drawdown_latched = False

    def evaluate(self, params: Params) -> str:
        """Recompute the trip reason ("" when clear) and store it."""
        if _lost_at_least(self.peak, self.bankroll, exact(params.max_drawdown)):
            self.drawdown_latched = True
        if self.drawdown_latched:
            self.reason = "MAX_DRAWDOWN_HALT"
        elif _lost_at_least(self.daily_start, self.bankroll, exact(params.daily_loss_limit)):
            self.reason = "DAILY_LOSS_LIMIT"
        elif _lost_at_least(self.weekly_start, self.bankroll, exact(params.weekly_loss_limit)):
            self.reason = "WEEKLY_LOSS_LIMIT"
        else:
            self.reason = ""
        return self.reason

    def halts(self, *, live: bool, params: Params) -> bool:
        return bool(self.reason) and (live or params.paper_breaker_halts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Breaker:
        return cls(**data)


def loss_fraction(baseline: int | Any, bankroll: int | Any) -> float:
    """The share of ``baseline`` lost (≥ 0; 0 with no baseline): the drawdown against the
    peak, the daily and weekly losses against their baselines. The one formula every
    display uses; the trip decisions compare the same ratio exactly (``_lost_at_least``)."""
    if baseline <= 0:
        return 0.0
    return max(0.0, float(baseline - bankroll) / float(baseline))


def _lost_at_least(baseline: int, bankroll: int, limit: Fraction) -> bool:
    """(baseline − bankroll) / baseline ≥ limit, exactly; never with no baseline."""
    if baseline <= 0:
        return False
    return (baseline - bankroll) * limit.denominator >= limit.numerator * baseline
