"""Reads of trading state for the daemon's control poll, views, the API and health checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import Avg, Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from trading import charts
from trading.clock import day_start, last_days
from trading.engine.breaker import loss_fraction
from trading.engine.engine import DEFAULT_BANKROLL
from trading.engine.params import (
    DEFAULT_PARAMS,
    MARKET_PARAMS,
    PARAMS_SCHEMA,
    ParamError,
    Params,
)
from trading.models import (
    BankrollSnapshot,
    BotState,
    BreakerState,
    Decision,
    Lane,
    LiveOrphan,
    LivePositionState,
    LiveTradeCheck,
    OpenPosition,
    ParamOverride,
    Trade,
    TraderHeartbeat,
    TradingControls,
)
from trading.push import latest_payloads

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


def params_of_lane(
    base: Params,
    overrides: Mapping[str, Any],
    own: Mapping[str, Any],
    *,
    lane: str = "",
) -> Params:
    """A lane's effective parameters: ``base`` ← the global ``overrides`` ← the lane's
    ``own``. Raises ``ParamError`` when one does not fit, or when a lane's own override
    names a market parameter (market parameters are only global)."""
    market = sorted(MARKET_PARAMS & set(own))
    if market:
        raise ParamError(
            f"{', '.join(market)}: market parameter(s) shape the market every lane shares;"
            f" they cannot be set for lane {lane or '?'}, only for every lane"
        )
    return base.with_overrides({**overrides, **own})


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
    close_all_seq: int = 0
    close_all_handled_seq: int = 0
    version: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)  # global: name → value
    lane_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # lane → name → value
    drawdown_reset_seq: dict[str, int] = field(default_factory=dict)

    def params(self, base: Params = DEFAULT_PARAMS, lane: str | None = None) -> Params:
        """``base`` with the global overrides, then ``lane``'s own (None: the global set);
        raises ``ParamError`` if one no longer fits."""
        own = self.lane_overrides.get(lane, {}) if lane else {}
        return params_of_lane(base, self.overrides, own, lane=lane or "")

    def params_or(self, fallback: Params, *, lane: str) -> Params:
        """``lane``'s parameters from the defaults, or ``fallback`` if they no longer fit."""
        try:
            return self.params(lane=lane)
        except ParamError:
            return fallback

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def overrides_stored() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The stored overrides: the global ones (name → value) and each lane's own."""
    overrides: dict[str, Any] = {}
    lane_overrides: dict[str, dict[str, Any]] = {}
    for lane, name, value in ParamOverride.objects.values_list("lane", "name", "value"):
        if lane:
            lane_overrides.setdefault(lane, {})[name] = value
        else:
            overrides[name] = value
    return overrides, lane_overrides


def controls_current() -> ControlsSnapshot:
    controls = TradingControls.objects.filter(pk=1).first()
    overrides, lane_overrides = overrides_stored()
    resets = dict(BotState.objects.values_list("lane", "drawdown_reset_seq"))
    if controls is None:
        return ControlsSnapshot(
            overrides=overrides, lane_overrides=lane_overrides, drawdown_reset_seq=resets
        )
    since = controls.live_trade_count_since
    return ControlsSnapshot(
        trading_mode=controls.trading_mode,
        paused=controls.paused,
        emergency_stop_seq=controls.emergency_stop_seq,
        emergency_stop_pending=controls.emergency_stop_pending,
        live_trade_limit=controls.live_trade_limit,
        live_trade_count_since_ms=int(since.timestamp() * 1000) if since else None,
        close_all_seq=controls.close_all_seq,
        close_all_handled_seq=controls.close_all_handled_seq,
        version=controls.version,
        overrides=overrides,
        lane_overrides=lane_overrides,
        drawdown_reset_seq=resets,
    )


def bot_state_get(*, lane: str) -> BotState | None:
    """A lane's saved state for the daemon's restore (None on a fresh database)."""
    return BotState.objects.filter(lane=lane).first()


def effective_params(lane: str | None = None) -> tuple[Params, str]:
    """The defaults with the stored overrides (global, then ``lane``'s own), and an error
    text if they do not apply."""
    try:
        return controls_current().params(lane=lane), ""
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


def live_trades_counted(*, since: dt.datetime | None) -> int:
    """Live round trips closed since the trade limit's count started (all without a start)."""
    trades = Trade.objects.filter(lane=Lane.LIVE)
    return trades.filter(closed_at__gte=since).count() if since else trades.count()


# --- equity and candles -------------------------------------------------------------------


def _span_start(first: dt.datetime | None, since: dt.datetime | None) -> dt.datetime | None:
    """Where a chart's span starts: ``since``, or for "all" the first row's time."""
    return since if since is not None else first


def equity_series(*, lane: str, since: dt.datetime | None, now: dt.datetime) -> dict[str, Any]:
    """The lane's bankroll history from ``since`` (None: all) to ``now``, thinned to at most
    ``charts.MAX_POINTS`` points (the last of each bucket, and the first point): time in UTC
    seconds, money as float dollars (a chart, not accounting), drawdown in percent."""
    rows = BankrollSnapshot.objects.filter(lane=lane, ts__lte=now)
    if since is not None:
        rows = rows.filter(ts__gte=since)
    first = rows.order_by("ts").values_list("ts", flat=True).first()
    start = _span_start(first, since)
    span_s = int((now - start).total_seconds()) if start else 0
    width = charts.bucket_for(span_s) if rows.count() > charts.MAX_POINTS else 0
    fields = ("ts", "bankroll", "peak", "drawdown", "daily_pnl", "trade_count")
    points = (
        {
            "time": int(ts.timestamp()),
            "bankroll": float(bankroll),
            "peak_bankroll": float(peak),
            "drawdown_pct": round(drawdown * 100, 4),
            "daily_pnl": float(daily),
            "trade_count": count,
        }
        for ts, bankroll, peak, drawdown, daily, count in rows.order_by("ts", "id")
        .values_list(*fields)
        .iterator(chunk_size=5000)
    )
    return {
        "equity": charts.last_per_bucket(points, width) if width else list(points),
        "bucket_s": width,
    }


def btc_candles(*, since: dt.datetime | None, now: dt.datetime) -> dict[str, Any]:
    """BTC spot bars from ``since`` (None: all) to ``now`` as bucketed OHLC, at most
    ``charts.MAX_POINTS`` bars, with EMA 5/20 of the bars shown. Read from the 15-minute
    bars when the bucket is that wide or wider, else from the 1-minute bars; live bars win
    over Binance history at equal times. Empty when marketdata's table does not exist."""
    try:
        candle_model = apps.get_model("marketdata", "Candle")
    except LookupError:
        return {"candles": [], "interval_s": 60, **{f"ema{n}": [] for n in EMA_SPANS}}
    all_bars = candle_model.objects.filter(open_time__lte=now)
    if since is not None:
        all_bars = all_bars.filter(open_time__gte=since)
    first = all_bars.order_by("open_time").values_list("open_time", flat=True).first()
    start = _span_start(first, since)
    width = charts.bucket_for(int((now - start).total_seconds()) if start else 0)
    # 15-minute bars where the bucket allows (a quarter of the rows to read), unless the
    # span has none (a table filled with 1-minute bars only).
    wide = width >= 900 and all_bars.filter(interval_s=900).exists()
    source_s = 900 if wide else 60
    rows = (
        all_bars.filter(interval_s=source_s)
        .order_by("open_time", "source")  # "binance" < "live": the live bar comes last, wins
        .values_list("open_time", "open", "high", "low", "close", "volume")
        .iterator(chunk_size=5000)
    )
    bars = charts.ohlc_buckets(
        ((int(t.timestamp()), o, h, lo, c, v) for t, o, h, lo, c, v in rows), width
    )
    return {"candles": bars, "interval_s": width, **{f"ema{n}": ema(bars, n) for n in EMA_SPANS}}


def ema(points: list[dict[str, Any]], span: int) -> list[dict[str, Any]]:
    """Exponential moving average of ``close`` (alpha = 2 / (span + 1)), seeded by the first."""
    alpha = 2.0 / (span + 1)
    out: list[dict[str, Any]] = []
    value: float | None = None
    for point in points:
        value = point["close"] if value is None else alpha * point["close"] + (1 - alpha) * value
        out.append({"time": point["time"], "value": round(value, 2)})
    return out


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
    """Per UTC day of the last ``days`` to the trading clock's day (``trading.clock``; 0:
    every day): trades, PnL, wins, losses and win rate, oldest first; days without trades
    are left out."""
    trades = counted_trades(lane=lane)
    if days:
        start, end = last_days(days, now=now)
        trades = trades.filter(closed_at__gte=start, closed_at__lt=end)
    rows = (
        trades.annotate(day=TruncDate("closed_at", tzinfo=dt.UTC))
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


def override_applies(name: str) -> str:
    """When an override of ``name`` takes effect (the operator's words)."""
    return "at the next restart" if name in MARKET_PARAMS else "within a second"


def overrides_list(lane: str = "") -> list[dict[str, Any]]:
    """Every parameter with its default, bounds and its value for ``lane`` (blank: every
    lane): the lane's own override, else the global one, else the default; ``origin`` says
    which (for the API and admin)."""
    rows = ParamOverride.objects.filter(lane__in={"", lane})
    stored = {(row.name, row.lane): row for row in rows}
    out = []
    for spec in PARAMS_SCHEMA:
        row = stored.get((spec["name"], lane)) or stored.get((spec["name"], ""))
        origin = "default" if row is None else ("lane" if row.lane else "global")
        out.append(
            {
                **spec,
                "overridden": row is not None,
                "origin": origin,
                "lane": row.lane if row else "",
                "applies": override_applies(spec["name"]),
                "value": row.value if row else spec["default"],
                "set_by": row.set_by_label if row else None,
                "set_at": row.set_at if row else None,
                "note": row.note if row else "",
            }
        )
    return out


def overrides_rows() -> list[dict[str, Any]]:
    """Every stored override (global and per lane), with who set it, when, and when it
    applies: what the dashboard lists."""
    return [
        {
            "name": row.name,
            "lane": row.lane,
            "value": row.value,
            "scope": "market" if row.name in MARKET_PARAMS else "lane",
            "applies": override_applies(row.name),
            "set_by": row.set_by_label,
            "set_at": row.set_at,
            "note": row.note,
        }
        for row in ParamOverride.objects.order_by("name", "lane")
    ]


def breaker_view(*, lane: str, tripped: str, params: Params) -> dict[str, Any]:
    """What the breaker does, in words an operator cannot misread: a paper trip halts
    entries only with ``paper_breaker_halts`` (off by default, as in the original, which
    kept paper trading to collect data), so a tripped paper breaker usually is not one."""
    if not tripped or tripped == BreakerState.OK:
        return {"breaker_tripped": False, "breaker_enforced": False, "breaker_text": "clear"}
    enforced = lane == Lane.LIVE or params.paper_breaker_halts
    text = f"{tripped}: " + (
        "halting new entries" if enforced else "tripped, not enforced on paper (entries go on)"
    )
    return {"breaker_tripped": True, "breaker_enforced": enforced, "breaker_text": text}


def lane_risk(*, lane: str, params: Params = DEFAULT_PARAMS) -> dict[str, Any]:
    """The sidebar figures of one lane: bankroll, drawdown and losses against their limits,
    the breaker and what it does, and the lane's closed-trade count."""
    state = BotState.objects.filter(lane=lane).first()
    if state is None:
        return {"lane": lane, "available": False, "trade_count": 0}

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
        **breaker_view(lane=lane, tripped=state.breaker_state, params=params),
        "paper_breaker_halts": params.paper_breaker_halts,
        "trades_today": state.trades_today,
        "trade_count": Trade.objects.filter(lane=lane).count(),
        "updated_at": state.updated_at,
    }


def lane_initial_bankroll(*, lane: str) -> Decimal:
    """The bankroll the lane started with: its bankroll less the PnL of every trade booked
    to it (quarantined trades are reversed out of the bankroll, so left out here too); the
    engine's default on a lane with no saved state."""
    state = BotState.objects.filter(lane=lane).first()
    if state is None:
        return Decimal(DEFAULT_BANKROLL) / 1_000_000
    booked = Trade.objects.filter(lane=lane, quarantined=False).aggregate(total=Sum("pnl"))
    return state.bankroll - _money(booked["total"])


def recent_trades(*, lane: str, limit: int = 10) -> QuerySet[Trade]:
    return trades_list(lane=lane)[:limit]


def status() -> dict[str, Any]:
    """``GET /api/status``: the original's keys (``trading_mode``, ``trading_paused``,
    ``paper_bankroll``, ``paper_risk``, ``paper_decision``, ``market_states`` …) where
    this system has the figure, and its own (``controls``, ``trader``, ``params_hash``).
    Money as float dollars (display figures); the live lane's are null until it exists."""
    controls = controls_current()
    params, params_error = effective_params()
    risk = {
        lane: lane_risk(lane=lane, params=controls.params_or(params, lane=lane))
        for lane in Lane.values
    }
    latest = latest_payloads()
    market = latest.get(("market", ""))
    lanes = {
        lane: {
            "positions": list(positions_list(lane=lane).values(*POSITION_FIELDS)),
            "recent_trades": list(recent_trades(lane=lane).values(*TRADE_BRIEF_FIELDS)),
        }
        for lane in Lane.values
    }
    return {
        "trading_mode": controls.trading_mode,
        "trading_paused": "paused" if controls.paused else "off",
        "paper_bankroll": risk[Lane.PAPER].get("bankroll"),
        "live_bankroll": risk[Lane.LIVE].get("bankroll"),
        "wallet_balance": None,  # no exchange account until the live lane exists
        "orphaned_positions": [],
        "market_states": {"BTC": _market_state(market)} if market else {},
        "atr": {"regime": market.get("regime"), "atr_pct": market.get("atr_pct")}
        if market
        else None,
        "risk": risk[controls.trading_mode],
        "paper": lanes[Lane.PAPER],
        "live": lanes[Lane.LIVE],
        "paper_risk": risk[Lane.PAPER],
        "live_risk": risk[Lane.LIVE],
        "paper_decision": _decision_brief(last_decision(lane=Lane.PAPER)),
        "live_decision": _decision_brief(last_decision(lane=Lane.LIVE)),
        "controls": {
            k: v for k, v in controls.as_dict().items() if k not in ("overrides", "lane_overrides")
        },
        "overrides_active": len(controls.overrides)
        + sum(map(len, controls.lane_overrides.values())),
        "params_error": params_error,
        "params_hash": params.params_hash(),
        "trader": trader_heartbeat(),
    }


POSITION_FIELDS = (
    "position_uid", "ticker", "direction", "contracts", "entry_price", "opened_at", "cost",
    "fees", "stop_price", "target_price", "conviction", "driver",
)  # fmt: skip
TRADE_BRIEF_FIELDS = (
    "position_uid", "ticker", "direction", "contracts", "entry_price", "exit_price",
    "opened_at", "closed_at", "pnl", "fees", "exit_reason", "quarantined",
)  # fmt: skip


def _market_state(market: dict[str, Any]) -> dict[str, Any]:
    """The trader's last market payload in the original's per-symbol shape (prices in
    dollars, YES space)."""

    def price(units: int | None) -> float | None:
        return None if units is None else units / 10_000

    return {
        "spot_price": market.get("spot"),
        "kalshi_ticker": market.get("ticker"),
        "best_bid": price(market.get("yes_bid")),
        "best_ask": price(market.get("yes_ask")),
        "mid": None
        if market.get("yes_bid") is None or market.get("yes_ask") is None
        else (market["yes_bid"] + market["yes_ask"]) / 20_000,
        "spread": price(market.get("spread")),
        "obi": market.get("obi"),
        "time_remaining_sec": market.get("seconds_to_close"),
        "price_to_beat": market.get("price_to_beat"),
        "as_of_ms": market.get("ts"),
    }


def signal_accuracy(*, lane: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The signal log's most frequent (OBI direction, ROC direction, decision, conviction,
    skip reason) combinations; the directions are the entry rules' outcomes kept in each
    row's reasons. Entry evaluations only (exit rows carry no signal). The database counts
    rows per distinct reasons (the rules' outcomes are categorical: a few hundred groups
    for millions of rows); the directions are read from each group here."""
    rows = Decision.objects.exclude(kind="exit")
    if lane:
        rows = rows.filter(lane=lane)
    groups = (
        rows.values("direction", "conviction", "skip_reason", "reasons")
        .annotate(rows=Count("id"))
        .order_by()
    )
    counts: dict[tuple[str, str, str, str, str], int] = {}
    for group in groups.iterator(chunk_size=2000):
        rules = dict(_rules(group["reasons"]))
        key = (
            rules.get("obi", ""),
            rules.get("roc", ""),
            group["direction"] or "flat",
            group["conviction"],
            group["skip_reason"],
        )
        counts[key] = counts.get(key, 0) + group["rows"]
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    names = ("obi_direction", "roc_direction", "decision", "conviction", "skip_reason")
    return [{**dict(zip(names, key, strict=True)), "count": count} for key, count in top]


def _rules(reasons: Any) -> list[tuple[str, str]]:
    """``reasons["rules"]`` as (rule, outcome) pairs; [] for rows without them."""
    rules = reasons.get("rules") if isinstance(reasons, dict) else None
    if not isinstance(rules, list):
        return []
    return [(str(rule[0]), str(rule[1])) for rule in rules if isinstance(rule, list | tuple)]


def spread_state_of(reasons: Any) -> str:
    """The spread rule's outcome (WIDE, TIGHT, NORMAL …) kept in a decision's reasons."""
    return dict(_rules(reasons)).get("spread", "")


def deploy_check() -> dict[str, Any]:
    """``GET /api/deploy-check``: whether a restart now would leave something behind. An
    open live position blocks; resting exchange orders and orphans need the live lane
    (none exist without it). Paper positions do not block: they are saved and restored."""
    controls = controls_current()
    blockers = [
        f"Open live position: {p.ticker} ({p.direction}, {p.contracts:g} contracts)"
        for p in positions_list(lane=Lane.LIVE)
    ]
    if controls.emergency_stop_pending:
        blockers.append("An emergency stop is pending: the trader has not flattened yet")
    safe = not blockers
    return {
        "safe_to_deploy": safe,
        "trading_mode": controls.trading_mode,
        "blockers": blockers,
        "orphans": 0,
        "message": "Safe to deploy" if safe else "BLOCKED: " + "; ".join(blockers),
    }


def diagnostics() -> dict[str, Any]:
    """``GET /api/diagnostics``: the trader's last health report (feeds with their counters,
    troubles) beside what the database says about candles, positions and the breaker."""
    latest = latest_payloads()
    health = latest.get(("health", "")) or {}
    market = latest.get(("market", "")) or {}
    controls = controls_current()
    params, _ = effective_params()
    candles_60 = _minute_candles()
    last = candles_60.order_by("-open_time").first() if candles_60 is not None else None
    can_trade = {}
    for lane in Lane.values:
        risk = lane_risk(lane=lane, params=controls.params_or(params, lane=lane))
        can_trade[lane] = (
            lane == Lane.PAPER and not controls.paused and not risk.get("breaker_enforced")
        )
    feeds = {feed.get("name"): feed for feed in health.get("feeds", [])}
    return {
        "trader": trader_heartbeat(),
        "kalshi_ws": _socket_brief(feeds.get("kalshi")),
        "spot_ws": _socket_brief(feeds.get("coinbase")),
        "health_reported": health or None,
        "feeds": health.get("feeds", []),
        "atr_regime": market.get("regime"),
        "book_healthy": market.get("yes_bid") is not None and market.get("yes_ask") is not None,
        "candle_count": candles_60.count() if candles_60 is not None else 0,
        "last_candle_close": float(last.close) if last else None,
        "last_candle_time": int(last.open_time.timestamp()) if last else None,
        "has_paper_position": positions_list(lane=Lane.PAPER).exists(),
        "has_live_position": positions_list(lane=Lane.LIVE).exists(),
        "trading_mode": controls.trading_mode,
        "can_trade": can_trade,
    }


def _socket_brief(feed: dict[str, Any] | None) -> dict[str, Any] | None:
    """A feed's counters in the original's per-socket shape (None: no such socket, as when
    the trader reads the in-process simulator stream)."""
    if feed is None:
        return None
    age_ms = feed.get("last_message_age_ms")
    return {
        "connected": feed.get("state") == "connected",
        "state": feed.get("state"),
        "last_message_age_sec": None if age_ms is None else round(age_ms / 1000, 1),
        "message_count": feed.get("messages", 0),
        "connect_attempts": feed.get("connects", 0),
        "reconnects": feed.get("reconnects", 0),
        "active_ticker": feed.get("active_ticker"),
    }


def _minute_candles() -> QuerySet[Any] | None:
    try:
        return apps.get_model("marketdata", "Candle").objects.filter(interval_s=60)
    except LookupError:
        return None


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


def live_status(*, paused: bool) -> dict[str, Any]:
    """The live lane's position manager for the dashboard: whether the lane exists, its
    state, what it holds, round trips, orphans, and the pause state (``settling`` while a
    pause waits for a live position to exit, domain.md §3.17.10)."""
    row = LivePositionState.objects.filter(lane=Lane.LIVE).first()
    if row is None:
        return {"exists": False, "pause": "paused" if paused else "off"}
    data = row.data or {}
    position = data.get("position") or {}
    holding = row.state != "FLAT" or OpenPosition.objects.filter(lane=Lane.LIVE).exists()
    return {
        "exists": True,
        "state": row.state,
        "desync_reason": data.get("desync_reason") or "",
        "ticker": position.get("ticker"),
        "side": position.get("side"),
        "contracts": (position.get("count") or 0) / 100,
        "round_trips": data.get("round_trips") or 0,
        "orphans": sorted(data.get("orphans") or {}),
        # #22: each open orphan with its exposure (``LiveOrphan`` rows follow the state)
        "orphan_rows": [
            {"ticker": o.ticker, "contracts": o.contracts, "exposure": o.exposure}
            for o in LiveOrphan.objects.filter(lane=Lane.LIVE, closed_at=None)
        ],
        "unresolved": (data.get("unresolved") or {}).get("client_order_id"),
        "pause": ("settling" if holding else "paused") if paused else "off",
        # §3.18: round trips whose wallet drift or anomaly check flagged them, the latest's why
        "checks_flagged": LiveTradeCheck.objects.exclude(flagged="").count(),
        "check_flagged_latest": (
            LiveTradeCheck.objects.exclude(flagged="").values_list("flagged", flat=True).first()
            or ""
        ),
    }
