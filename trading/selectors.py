"""Reads of trading state for the daemon's control poll, views, the API and health checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import Avg, Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from trading.clock import day_start, last_days
from trading.engine.breaker import loss_fraction
from trading.engine.params import DEFAULT_PARAMS, PARAMS_SCHEMA, ParamError, Params
from trading.models import (
    BankrollSnapshot,
    BotState,
    Decision,
    Lane,
    OpenPosition,
    ParamOverride,
    Trade,
    TraderHeartbeat,
    TradingControls,
)

# Exits the bookkeeping makes, not the strategy: left out of stats (domain.md §3.12.3).
MECHANICAL_EXITS = ("ORPHAN_SETTLED", "TICKER_ROLLED", "RETRY")
EMA_SPANS = (5, 20)


def trader_heartbeat(process: str = "run_trader") -> dict[str, Any]:
    """The trader's liveness as the dashboard and ``/healthz`` report it."""
    beat = TraderHeartbeat.objects.filter(process=process).first()
    if beat is None or beat.stopped_at is not None:
        return {"state": "not running"}
    age_s = (timezone.now() - beat.beat_at).total_seconds()
    state = "running" if age_s <= settings.KBTC["HEARTBEAT_STALE_S"] else "stale"
    return {
        "state": state,
        "pid": beat.pid,
        "hostname": beat.hostname,
        "beat_at": beat.beat_at.isoformat(),
        "age_s": round(age_s, 1),
    }


# --- the daemon's control read ------------------------------------------------------------


@dataclass(frozen=True)
class ControlsSnapshot:
    """Everything the daemon applies from the database, read in one go every second.

    Compare ``version`` (controls and overrides), ``emergency_stop_seq`` against the last one
    handled and each lane's ``drawdown_reset_seq`` against the last one applied.
    """

    trading_mode: str = "paper"
    paused: bool = False
    emergency_stop_seq: int = 0
    emergency_stop_pending: bool = False
    live_trade_limit: int | None = None
    live_trade_count_since_ms: int | None = None
    version: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)
    drawdown_reset_seq: dict[str, int] = field(default_factory=dict)

    def params(self, base: Params = DEFAULT_PARAMS) -> Params:
        """``base`` with the overrides applied; raises ``ParamError`` if one no longer fits."""
        return base.with_overrides(self.overrides)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def controls_current() -> ControlsSnapshot:
    controls = TradingControls.objects.filter(pk=1).first()
    overrides = dict(ParamOverride.objects.values_list("name", "value"))
    resets = dict(BotState.objects.values_list("lane", "drawdown_reset_seq"))
    if controls is None:
        return ControlsSnapshot(overrides=overrides, drawdown_reset_seq=resets)
    since = controls.live_trade_count_since
    return ControlsSnapshot(
        trading_mode=controls.trading_mode,
        paused=controls.paused,
        emergency_stop_seq=controls.emergency_stop_seq,
        emergency_stop_pending=controls.emergency_stop_pending,
        live_trade_limit=controls.live_trade_limit,
        live_trade_count_since_ms=int(since.timestamp() * 1000) if since else None,
        version=controls.version,
        overrides=overrides,
        drawdown_reset_seq=resets,
    )


def bot_state_get(*, lane: str) -> BotState | None:
    """A lane's saved state for the daemon's restore (None on a fresh database)."""
    return BotState.objects.filter(lane=lane).first()


def effective_params() -> tuple[Params, str]:
    """The defaults with the stored overrides, and an error text if they do not apply."""
    try:
        return controls_current().params(), ""
    except ParamError as error:
        return DEFAULT_PARAMS, str(error)


# --- trades, positions, decisions ----------------------------------------------------------


def trades_list(
    *,
    lane: str | None = None,
    direction: str | None = None,
    exit_reason: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    quarantined: bool | None = None,
) -> QuerySet[Trade]:
    """Closed trades, newest first; dates are UTC days of the close, both inclusive."""
    trades = Trade.objects.all()
    if lane:
        trades = trades.filter(lane=lane)
    if direction:
        trades = trades.filter(direction=direction)
    if exit_reason:
        trades = trades.filter(exit_reason=exit_reason)
    if date_from:
        trades = trades.filter(closed_at__gte=day_start(date_from))
    if date_to:
        trades = trades.filter(closed_at__lt=day_start(date_to) + dt.timedelta(days=1))
    if quarantined is not None:
        trades = trades.filter(quarantined=quarantined)
    return trades.order_by("-closed_at", "-id")


def flagged_trades(*, lane: str | None = None) -> QuerySet[Trade]:
    """Quarantined or data-quality-flagged trades: shown, never aggregated."""
    trades = Trade.objects.filter(Q(quarantined=True) | ~Q(data_quality_flag=""))
    return trades.filter(lane=lane) if lane else trades


def counted_trades(*, lane: str | None = None) -> QuerySet[Trade]:
    """The trades aggregates may use."""
    trades = Trade.objects.filter(quarantined=False, data_quality_flag="").exclude(
        exit_reason__in=MECHANICAL_EXITS
    )
    return trades.filter(lane=lane) if lane else trades


def positions_list(*, lane: str | None = None) -> QuerySet[OpenPosition]:
    positions = OpenPosition.objects.all()
    return positions.filter(lane=lane) if lane else positions


def decisions_list(
    *, lane: str | None = None, kind: str | None = None, since: dt.datetime | None = None
) -> QuerySet[Decision]:
    decisions = Decision.objects.all()
    if lane:
        decisions = decisions.filter(lane=lane)
    if kind:
        decisions = decisions.filter(kind=kind)
    if since:
        decisions = decisions.filter(ts__gte=since)
    return decisions.order_by("-ts", "-id")


def last_decision(*, lane: str) -> Decision | None:
    return Decision.objects.filter(lane=lane).order_by("-ts", "-id").first()


# --- equity and candles -------------------------------------------------------------------


def equity_points(*, lane: str, since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Bankroll history as chart points: time in UTC seconds, money as float dollars."""
    rows = BankrollSnapshot.objects.filter(lane=lane)
    if since:
        rows = rows.filter(ts__gte=since)
    rows = rows.order_by("ts")[:5000]
    return [
        {
            "time": int(row.ts.timestamp()),
            "bankroll": float(row.bankroll),
            "peak": float(row.peak),
            "drawdown": row.drawdown,
            "daily_pnl": float(row.daily_pnl),
            "trade_count": row.trade_count,
        }
        for row in rows
    ]


def candles(
    *, interval_s: int = 60, since: dt.datetime | None = None, limit: int = 1500
) -> list[dict[str, Any]]:
    """BTC spot bars from marketdata's ``Candle`` (newest ``limit``, oldest first), or []
    when that table does not exist yet. Live bars win over Binance history at equal times."""
    try:
        candle_model = apps.get_model("marketdata", "Candle")
    except LookupError:
        return []
    rows = candle_model.objects.filter(interval_s=interval_s)
    if since:
        rows = rows.filter(open_time__gte=since)
    newest = list(rows.order_by("-open_time", "source")[: limit * 2])
    by_time: dict[int, dict[str, Any]] = {}
    for row in newest:
        time_s = int(row.open_time.timestamp())
        if time_s in by_time and row.source != "live":
            continue
        by_time[time_s] = {
            "time": time_s,
            "open": float(row.open),
            "high": float(row.high),
            "low": float(row.low),
            "close": float(row.close),
        }
    return [by_time[time_s] for time_s in sorted(by_time)][-limit:]


def ema(points: list[dict[str, Any]], span: int) -> list[dict[str, Any]]:
    """Exponential moving average of ``close`` (alpha = 2 / (span + 1)), seeded by the first."""
    alpha = 2.0 / (span + 1)
    out: list[dict[str, Any]] = []
    value: float | None = None
    for point in points:
        value = point["close"] if value is None else alpha * point["close"] + (1 - alpha) * value
        out.append({"time": point["time"], "value": round(value, 2)})
    return out


def candles_with_ema(
    *, interval_s: int = 60, since: dt.datetime | None = None
) -> dict[str, list[dict[str, Any]]]:
    bars = candles(interval_s=interval_s, since=since)
    return {"candles": bars, **{f"ema{span}": ema(bars, span) for span in EMA_SPANS}}


# --- stats --------------------------------------------------------------------------------


def _money(value: Decimal | None) -> Decimal:
    return value if value is not None else Decimal(0)


def trade_stats(*, lane: str | None = None) -> dict[str, Any]:
    """Totals over counted trades (wins: PnL ≥ 0, as the original counted them)."""
    trades = counted_trades(lane=lane)
    totals = trades.aggregate(
        count=Count("id"),
        wins=Count("id", filter=Q(pnl__gte=0)),
        total_pnl=Sum("pnl"),
        total_fees=Sum("fees"),
        best=Max("pnl"),
        worst=Min("pnl"),
        avg=Avg("pnl"),
    )
    count = totals["count"]
    return {
        "count": count,
        "wins": totals["wins"],
        "losses": count - totals["wins"],
        "win_rate": totals["wins"] / count if count else None,
        "total_pnl": _money(totals["total_pnl"]),
        "total_fees": _money(totals["total_fees"]),
        "best": totals["best"],
        "worst": totals["worst"],
        "avg": Decimal(totals["avg"]).quantize(Decimal("0.000001")) if count else None,
        "flagged": flagged_trades(lane=lane).count(),
    }


def daily_pnl(
    *, lane: str | None = None, days: int = 30, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Per UTC day of the last ``days`` to the trading clock's day (``trading.clock``):
    trades, PnL, wins, losses and win rate, oldest first; days without trades are left out."""
    start, end = last_days(days, now=now)
    rows = (
        counted_trades(lane=lane)
        .filter(closed_at__gte=start, closed_at__lt=end)
        .annotate(day=TruncDate("closed_at", tzinfo=dt.UTC))
        .values("day")
        .annotate(trades=Count("id"), pnl_sum=Sum("pnl"), wins=Count("id", filter=Q(pnl__gte=0)))
        .order_by("day")
    )
    return [
        {
            "day": row["day"],
            "trades": row["trades"],
            "pnl": row["pnl_sum"],
            "wins": row["wins"],
            "losses": row["trades"] - row["wins"],
            "win_rate": row["wins"] / row["trades"],
        }
        for row in rows
    ]


def win_rate_by_regime(*, lane: str | None = None) -> list[dict[str, Any]]:
    rows = (
        counted_trades(lane=lane)
        .values("regime")
        .annotate(trades=Count("id"), pnl_sum=Sum("pnl"), wins=Count("id", filter=Q(pnl__gte=0)))
        .order_by("regime")
    )
    return [
        {
            "regime": row["regime"] or "unknown",
            "trades": row["trades"],
            "pnl": row["pnl_sum"],
            "wins": row["wins"],
            "win_rate": row["wins"] / row["trades"],
        }
        for row in rows
    ]


# --- overrides and status -----------------------------------------------------------------


def overrides_list() -> list[dict[str, Any]]:
    """Every parameter with its default, bounds and any override (for the API and admin)."""
    stored = {row.name: row for row in ParamOverride.objects.all()}
    out = []
    for spec in PARAMS_SCHEMA:
        row = stored.get(spec["name"])
        out.append(
            {
                **spec,
                "overridden": row is not None,
                "value": row.value if row else spec["default"],
                "set_by": row.set_by_label if row else None,
                "set_at": row.set_at if row else None,
                "note": row.note if row else "",
            }
        )
    return out


def lane_risk(*, lane: str, params: Params = DEFAULT_PARAMS) -> dict[str, Any]:
    """The sidebar figures of one lane: bankroll, drawdown and losses against their limits."""
    state = BotState.objects.filter(lane=lane).first()
    latest = BankrollSnapshot.objects.filter(lane=lane).order_by("-ts").first()
    if state is None:
        return {"lane": lane, "available": False}

    return {
        "lane": lane,
        "available": True,
        "bankroll": state.bankroll,
        "peak": state.peak,
        "drawdown": loss_fraction(state.peak, state.bankroll),
        "max_drawdown": params.max_drawdown,
        "daily_loss": loss_fraction(state.daily_baseline, state.bankroll),
        "daily_loss_limit": params.daily_loss_limit,
        "weekly_loss": loss_fraction(state.weekly_baseline, state.bankroll),
        "weekly_loss_limit": params.weekly_loss_limit,
        "breaker_state": state.breaker_state,
        "trades_today": state.trades_today,
        "trade_count": latest.trade_count if latest else 0,
        "updated_at": state.updated_at,
    }


def status() -> dict[str, Any]:
    """What the dashboard sidebar and ``GET /api/status/`` show."""
    controls = controls_current()
    params, params_error = effective_params()
    return {
        "controls": {k: v for k, v in controls.as_dict().items() if k != "overrides"},
        "overrides_active": len(controls.overrides),
        "params_error": params_error,
        "params_hash": params.params_hash(),
        "trader": trader_heartbeat(),
        "lanes": [lane_risk(lane=lane, params=params) for lane in Lane.values],
        "open_positions": OpenPosition.objects.count(),
        "last_decisions": {lane: _decision_brief(last_decision(lane=lane)) for lane in Lane.values},
    }


def _decision_brief(decision: Decision | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {
        "ts": decision.ts,
        "kind": decision.kind,
        "direction": decision.direction,
        "conviction": decision.conviction,
        "driver": decision.driver,
        "skip_reason": decision.skip_reason,
        "reasons": decision.reasons,
    }
