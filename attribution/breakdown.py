"""PnL attribution of closed trades: one pure function, shared by the backtester's reports
and the daily/weekly attribution jobs (domain.md §5.1).

Input is any sequence of trades with the fields of ``trading.engine.records.PositionClosed``
that attribution reads (``TradeOutcome``); output is plain JSON. Money stays integer
micro-dollars; rates are floats. A trade is a win when its net PnL (after fees) is
positive, as §4.3 counts ``pnl_pct > 0``.

Sessions are by the UTC hour of the trade's **entry** (``opened_ts``): the original used the
row's timestamp, which for stored trades was the close (domain.md §5.1 ⚠); the entry is
the moment the session's conditions shaped the decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

# (name, first UTC hour, end hour exclusive), domain.md §5.1
SESSIONS = (
    ("ASIA", 0, 8),
    ("LONDON", 8, 13),
    ("US_OPEN", 13, 15),
    ("US_MAIN", 15, 20),
    ("US_CLOSE", 20, 24),
)
CONVICTIONS = ("HIGH", "NORMAL", "LOW")
REGIMES = ("LOW", "MEDIUM", "HIGH", "UNKNOWN")
# A regime needs more than this many trades to be called the best (domain.md §5.1).
BEST_REGIME_MIN_TRADES = 10


class TradeOutcome(Protocol):
    @property
    def opened_ts(self) -> int: ...
    @property
    def ts(self) -> int: ...  # closed
    @property
    def pnl(self) -> int: ...  # net, micro-dollars
    @property
    def pnl_frac(self) -> float: ...
    @property
    def fees(self) -> int: ...
    @property
    def direction(self) -> str: ...
    @property
    def conviction(self) -> str: ...
    @property
    def regime(self) -> str: ...
    @property
    def reason(self) -> str: ...


def session_of(ts: int) -> str:
    hour = (ts // 3_600_000) % 24
    for name, first, end in SESSIONS:
        if first <= hour < end:
            return name
    raise AssertionError(hour)  # the table covers 0–24


def _group(
    trades: Sequence[TradeOutcome],
    key: Callable[[TradeOutcome], str],
    order: Iterable[str] = (),
) -> dict[str, dict[str, Any]]:
    order = tuple(order)
    groups: dict[str, list[TradeOutcome]] = {name: [] for name in order}
    for trade in trades:
        groups.setdefault(key(trade) or "UNKNOWN", []).append(trade)
    total_pnl = sum(t.pnl for t in trades)
    return {
        name: _summary(members, total_pnl, len(trades))
        for name, members in groups.items()
        if members or name in order
    }


def _summary(trades: Sequence[TradeOutcome], total_pnl: int, total_count: int) -> dict[str, Any]:
    count = len(trades)
    pnl = sum(t.pnl for t in trades)
    wins = sum(1 for t in trades if t.pnl > 0)
    return {
        "trades": count,
        "pnl": pnl,
        "fees": sum(t.fees for t in trades),
        "wins": wins,
        "win_rate": wins / count if count else 0.0,
        "avg_pnl_frac": sum(t.pnl_frac for t in trades) / count if count else 0.0,
        "avg_hold_s": sum(t.ts - t.opened_ts for t in trades) / count / 1000 if count else 0.0,
        "share_of_trades": count / total_count if total_count else 0.0,
        "share_of_pnl": pnl / total_pnl if total_pnl else 0.0,
    }


def best_regime(by_regime: dict[str, dict[str, Any]]) -> str | None:
    """LOW or MEDIUM, whichever has the higher win rate among those with more than
    ``BEST_REGIME_MIN_TRADES`` trades (the original's rule: HIGH is never "best")."""
    candidates = [
        name for name in ("LOW", "MEDIUM") if by_regime[name]["trades"] > BEST_REGIME_MIN_TRADES
    ]
    return max(candidates, key=lambda name: by_regime[name]["win_rate"], default=None)


def attribute(trades: Sequence[TradeOutcome]) -> dict[str, Any]:
    """Totals, then the same summary per conviction, direction, regime at entry, UTC
    session of the entry and exit reason."""
    by_regime = _group(trades, lambda t: t.regime, REGIMES)
    pnl = sum(t.pnl for t in trades)
    fees = sum(t.fees for t in trades)
    gross = pnl + fees
    return {
        "trades": len(trades),
        "pnl": pnl,
        "execution": {
            "fees": fees,
            "theoretical_pnl": gross,  # before fees
            "fees_share_of_gross": fees / gross if gross > 0 else None,
        },
        "by_conviction": _group(trades, lambda t: t.conviction, CONVICTIONS),
        "by_direction": _group(trades, lambda t: t.direction, ("LONG", "SHORT")),
        "by_regime": by_regime,
        "best_regime": best_regime(by_regime),
        "by_session": _group(
            trades, lambda t: session_of(t.opened_ts), (name for name, _, _ in SESSIONS)
        ),
        "by_exit_reason": _group(trades, lambda t: t.reason),
    }
