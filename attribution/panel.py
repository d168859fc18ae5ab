"""The dashboard's PnL Attribution panel (one per lane) and the signal-health lines of the
System health panel. Both show the API's figures (``GET /api/attribution``) formatted."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db.models import Max

from attribution.models import SignalBaseline
from attribution.monitoring import lane_signal_health
from attribution.selectors import lane_attribution
from trading.models import Lane, Trade

PANEL = "attribution/partials/attribution.html"
# The health panel re-renders at every health push (up to 5 a second); between trades the
# 30 days behind signal health only move with the clock, so a minute's staleness is nothing.
SIGNAL_HEALTH_TTL_S = 60


def _money(value: float) -> str:
    return f"-${abs(value):,.2f}" if value < 0 else f"${value:,.2f}"


def _rows(groups: dict[str, Any], *, count_key: str = "trades") -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "trades": group[count_key],
            "pnl_text": _money(group["pnl_dollars"]),
            "negative": group["pnl_dollars"] < 0,
            "win_rate_text": f"{group['win_rate']:.1%}" if "win_rate" in group else "—",
            "avg_pnl_pct": group.get("avg_pnl_pct"),
        }
        for name, group in groups.items()
        if isinstance(group, dict)
    ]


def attribution_context(lane: str) -> dict[str, Any]:
    report = lane_attribution(lane=lane)
    signal = report["signal_attribution"]
    execution = report["execution_attribution"]
    weekly = report["weekly"]
    return {
        "lane": lane,
        "total_trades": report["total_trades"],
        "total_text": _money(report["total_pnl_dollars"]),
        "conviction": _rows({k: v for k, v in signal.items() if not k.startswith("direction_")}),
        "session": _rows(report["session_attribution"]),
        "regime": _rows(report["regime_attribution"]),
        "best_regime": report["regime_attribution"].get("best_regime"),
        "exit_reason": [
            {**row, "share": report["exit_reason_breakdown"][row["name"]]["pct_of_all"]}
            for row in _rows(report["exit_reason_breakdown"], count_key="count")
        ],
        "fees_text": _money(execution["total_fees_dollars"]),
        "gross_text": _money(execution["theoretical_pnl"]),
        "fee_drag_pct": execution["fees_as_pct_of_gross"],
        "weekly": weekly,
    }


def signal_health_rows() -> list[dict[str, Any]]:
    def compute() -> list[dict[str, Any]]:
        return [lane_signal_health(lane=lane) for lane in Lane.values]

    # Keyed by the newest trade and baseline too, so a close or a new baseline shows at once.
    newest = Trade.objects.aggregate(id=Max("id"))["id"]
    baseline = SignalBaseline.objects.aggregate(at=Max("taken_at"))["at"]
    key = f"attribution:signal_health:{newest}:{baseline}"
    rows = cache.get_or_set(key, compute, SIGNAL_HEALTH_TTL_S)
    return rows if rows is not None else compute()
