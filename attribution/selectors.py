"""Reads of the attribution app: the trades attribution may count, as ``TradeOutcome``s."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from attribution.breakdown import attribute
from attribution.models import WeeklyAttribution
from trading.clock import day_start
from trading.models import Trade

MICRO = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class StoredTrade:
    """A ``Trade`` row in the engine's units (``attribution.breakdown.TradeOutcome``)."""

    opened_ts: int
    ts: int
    pnl: int
    pnl_frac: float
    fees: int
    direction: str
    conviction: str
    regime: str
    reason: str
    entry_obi: float | None
    entry_roc: float | None
    entry_yes_price: int  # $0.0001
    exit_yes_price: int


def _ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


def stored_trade(row: Trade) -> StoredTrade:
    return StoredTrade(
        opened_ts=_ms(row.opened_at),
        ts=_ms(row.closed_at),
        pnl=int(row.pnl * MICRO),
        pnl_frac=row.pnl_pct,
        fees=int(row.fees * MICRO),
        direction=row.direction.upper(),
        conviction=row.conviction,
        regime=row.regime,
        reason=row.exit_reason,
        entry_obi=row.entry_obi,
        entry_roc=row.entry_roc,
        entry_yes_price=int(row.entry_price * 10_000),
        exit_yes_price=int(row.exit_price * 10_000),
    )


def attributable_trades(
    *, lane: str, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> list[StoredTrade]:
    """A lane's trades that closed in ``[start, end)``, oldest first. Quarantined and
    data-quality-flagged rows are shown in the trade list but never counted (domain.md §3.20;
    the original's daily job forgot this, §5.2 [FIX])."""
    rows = Trade.objects.filter(lane=lane, quarantined=False, data_quality_flag="")
    if start is not None:
        rows = rows.filter(closed_at__gte=start)
    if end is not None:
        rows = rows.filter(closed_at__lt=end)
    return [stored_trade(row) for row in rows.order_by("closed_at", "id")]


def day_trades(*, lane: str, day: dt.date, days: int = 1) -> list[StoredTrade]:
    """The trades whose exit fell on ``day`` (UTC) or the ``days - 1`` days after it."""
    start = day_start(day)
    return attributable_trades(lane=lane, start=start, end=start + dt.timedelta(days=days))


def first_trade_day(*, lane: str) -> dt.date | None:
    first = (
        Trade.objects.filter(lane=lane, quarantined=False, data_quality_flag="")
        .order_by("closed_at")
        .values_list("closed_at", flat=True)
        .first()
    )
    return first.astimezone(dt.UTC).date() if first is not None else None


# --- the original's answer shape (GET /api/attribution, domain.md §5.1 / §9.2) ----------


def _dollars(micro: int) -> float:
    return round(micro / 1_000_000, 2)


def _pct(fraction: float) -> float:
    return round(fraction * 100, 3)


def _signal_groups(result: dict[str, Any]) -> dict[str, Any]:
    groups: dict[str, Any] = {
        name: {
            "trades": g["trades"],
            "pnl_dollars": _dollars(g["pnl"]),
            "avg_pnl_pct": _pct(g["avg_pnl_frac"]),
            "win_rate": round(g["win_rate"], 3),
            "pnl_share_pct": round(g["share_of_pnl"] * 100, 1),
        }
        for name, g in result["by_conviction"].items()
        if g["trades"]
    }
    for name, g in result["by_direction"].items():
        if g["trades"]:
            groups[f"direction_{name.lower()}"] = {
                "trades": g["trades"],
                "pnl_dollars": _dollars(g["pnl"]),
                "win_rate": round(g["win_rate"], 3),
            }
    return groups


def original_shape(result: dict[str, Any]) -> dict[str, Any]:
    """``attribute()``'s output in the original's keys and units (dollars, percentages):
    empty groups left out, ``best_regime`` inside the regimes; plus ``avg_hold_s`` where
    the original counted candles."""
    execution = result["execution"]
    regimes: dict[str, Any] = {
        name: {
            "trades": g["trades"],
            "pnl_dollars": _dollars(g["pnl"]),
            "win_rate": round(g["win_rate"], 3),
            "avg_hold_s": round(g["avg_hold_s"], 1),
        }
        for name, g in result["by_regime"].items()
        if g["trades"]
    }
    if result["best_regime"] is not None:
        regimes["best_regime"] = result["best_regime"]
    share = execution["fees_share_of_gross"]
    return {
        "total_pnl_dollars": _dollars(result["pnl"]),
        "total_trades": result["trades"],
        "signal_attribution": _signal_groups(result),
        "regime_attribution": regimes,
        "session_attribution": {
            name: {
                "trades": g["trades"],
                "pnl_dollars": _dollars(g["pnl"]),
                "win_rate": round(g["win_rate"], 3),
                "avg_pnl_pct": _pct(g["avg_pnl_frac"]),
            }
            for name, g in result["by_session"].items()
            if g["trades"]
        },
        "execution_attribution": {
            "total_fees_dollars": _dollars(execution["fees"]),
            "theoretical_pnl": _dollars(execution["theoretical_pnl"]),
            "actual_pnl": _dollars(result["pnl"]),
            "execution_drag": _dollars(execution["fees"]),
            "fees_as_pct_of_gross": round(share * 100, 1) if share is not None else 0,
        },
        "exit_reason_breakdown": {
            name: {
                "count": g["trades"],
                "pct_of_all": round(g["share_of_trades"] * 100, 1),
                "avg_pnl_pct": _pct(g["avg_pnl_frac"]),
                "pnl_dollars": _dollars(g["pnl"]),
            }
            for name, g in result["by_exit_reason"].items()
        },
    }


def latest_week(*, lane: str) -> dict[str, Any] | None:
    """The newest weekly row: its fee drag and flipped sessions/regimes (the drift flags)."""
    row = WeeklyAttribution.objects.filter(lane=lane).order_by("-week_start").first()
    if row is None:
        return None
    return {
        "week_start": row.week_start.isoformat(),
        "total_trades": row.total_trades,
        "total_pnl_dollars": float(row.total_pnl),
        "fee_drag_pct": round(row.fee_drag * 100, 1) if row.fee_drag is not None else None,
        "flipped": [
            {**flip, "pnl": _dollars(flip["pnl"]), "prior_pnl": _dollars(flip["prior_pnl"])}
            for flip in row.flipped
        ],
    }


def lane_attribution(*, lane: str) -> dict[str, Any]:
    """Every counted trade of the lane, recomputed (not summed from the daily rows, as the
    original's API), plus the newest week's drift flags."""
    return {
        **original_shape(attribute(attributable_trades(lane=lane))),
        "weekly": latest_week(lane=lane),
    }
