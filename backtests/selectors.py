"""Backtest reads for the API and the dashboard panel."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from backtests.models import BacktestRun, BacktestTrade, RunStatus

ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


def runs_list(*, status: str | None = None) -> QuerySet[BacktestRun]:
    runs = BacktestRun.objects.order_by("-created_at", "-id")
    return runs.filter(status=status) if status else runs


def run_latest() -> BacktestRun | None:
    return runs_list().first()


def run_latest_done() -> BacktestRun | None:
    return runs_list(status=RunStatus.DONE).first()


def runs_active() -> list[BacktestRun]:
    return list(BacktestRun.objects.filter(status__in=ACTIVE).order_by("created_at", "id"))


def run_trades(*, run: BacktestRun, limit: int) -> QuerySet[BacktestTrade]:
    return BacktestTrade.objects.filter(run=run).order_by("closed_at", "id")[:limit]


def run_summary(run: BacktestRun) -> dict[str, Any] | None:
    """The headline figures (money in dollars), None until the run is done."""
    m = run.metrics
    if not m:
        return None
    return {
        "trades": m["trades"],
        "net_pnl": m["net_pnl"] / 1_000_000,
        "fees": m["fees"] / 1_000_000,
        "total_return": m["total_return"],
        "win_rate": m["win_rate"],
        "sharpe": m["sharpe"],
        "sortino": m["sortino"],
        "max_drawdown": m["max_drawdown"],
        "profit_factor": m["profit_factor"],
        "passes_minimum": m["thresholds"]["passes_minimum"],
        "red_flags": m["red_flags"],
    }
