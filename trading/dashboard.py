"""The dashboard's live widgets: one template per widget with a stable root ``id``, rendered
from the database on a page load and from the daemon's topic payloads on a push, so a push
can never drift from a page load (django-notes.md §2.4).

Sync functions: the consumer calls them through ``database_sync_to_async``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.paginator import Paginator
from django.template.loader import render_to_string

from attribution.panel import PANEL as ATTRIBUTION
from attribution.panel import attribution_context
from trading import clock, push, selectors
from trading.health_panel import health_context
from trading.models import Direction, Lane
from trading.push import latest_payloads

LANES = tuple(Lane.values)

# widget templates, by the ids they render
SIDEBAR = "trading/partials/sidebar.html"
CONTROL_MESSAGE = "trading/partials/control_message.html"
MARKET = "trading/partials/market.html"
SIGNAL = "trading/partials/signal.html"
HEALTH = "trading/partials/health.html"
POSITIONS = "trading/partials/positions.html"
STATS = "trading/partials/stats.html"
FLAGGED = "trading/partials/flagged.html"
TRADES = "trading/partials/trades.html"
TRADES_PER_PAGE = 25
DAILY_PNL_DAYS = 14


# --- formatting (engine units → display) -------------------------------------------------


def cents(price: int | None) -> str:
    """Price units ($0.0001) → cents, e.g. 4250 → ``42.5¢``."""
    return "—" if price is None else f"{price / 100:g}¢"


def dollars(micros: int | Decimal | float | None) -> str:
    if micros is None:
        return "—"
    value = float(micros) / 1_000_000 if isinstance(micros, int) else float(micros)
    return f"-${abs(value):,.2f}" if value < 0 else f"${value:,.2f}"


def contracts(hundredths: int | None) -> str:
    return "—" if hundredths is None else f"{hundredths / 100:g}"


def interval_text(seconds: int) -> str:
    """A bar width for a heading: 60 → ``1-minute``, 14400 → ``4-hour``."""
    for unit, name in ((604_800, "week"), (86_400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % unit == 0:
            return f"{seconds // unit}-{name}"
    return f"{seconds}-second"


def percent(fraction: float | None, digits: int = 1) -> str:
    return "—" if fraction is None else f"{fraction * 100:.{digits}f}%"


# --- contexts -----------------------------------------------------------------------------


def sidebar_context(*, can_control: bool) -> dict[str, Any]:
    controls = selectors.controls_current()
    params, params_error = selectors.effective_params()
    lanes = []
    for lane in LANES:
        risk = selectors.lane_risk(lane=lane, params=params)
        if risk.get("available"):
            risk = {
                **risk,
                "bankroll_text": dollars(risk["bankroll"]),
                "peak_text": dollars(risk["peak"]),
                "drawdown_text": percent(risk["drawdown"]),
                "max_drawdown_text": percent(risk["max_drawdown"], 0),
                "daily_loss_text": percent(risk["daily_loss"]),
                "daily_limit_text": percent(risk["daily_loss_limit"], 0),
                "weekly_loss_text": percent(risk["weekly_loss"]),
                "weekly_limit_text": percent(risk["weekly_loss_limit"], 0),
            }
        lanes.append(risk)
    return {
        "controls": {k: v for k, v in controls.as_dict().items() if k != "overrides"},
        "lanes": lanes,
        "trader": selectors.trader_heartbeat(),
        "overrides_active": len(controls.overrides),
        "params_error": params_error,
        "paper_breaker_halts": params.paper_breaker_halts,
        "can_control": can_control,
        "live": selectors.live_status(paused=controls.paused),
    }


def market_context(payload: dict[str, Any] | None) -> dict[str, Any]:
    if not payload:
        return {"market": None}
    bid, ask = payload.get("bid_volume") or 0, payload.get("ask_volume") or 0
    obi = payload.get("obi")
    return {
        "market": {
            "ticker": payload.get("ticker") or "—",
            "spot": _btc(payload.get("spot")),
            "price_to_beat": _btc(payload.get("price_to_beat")),
            "seconds_to_close": payload.get("seconds_to_close"),
            "yes_bid": cents(payload.get("yes_bid")),
            "yes_ask": cents(payload.get("yes_ask")),
            "spread": cents(payload.get("spread")),
            "bid_volume": contracts(bid),
            "ask_volume": contracts(ask),
            "obi_pct": percent(obi),
            "obi_width": round(obi * 100) if obi is not None else 50,
            "regime": payload.get("regime") or "—",
            "atr_pct": "—" if payload.get("atr_pct") is None else f"{payload['atr_pct']:.2f}%",
        }
    }


def _btc(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"


def signal_context(lane: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    if payload is None:
        decision = selectors.last_decision(lane=lane)
        if decision is not None:
            payload = push.signal_payload(
                ts=int(decision.ts.timestamp() * 1000),
                lane=lane,
                ticker=decision.ticker,
                direction=decision.direction,
                conviction=decision.conviction,
                size_mult=decision.size_mult,
                driver=decision.driver,
                obi=decision.obi,
                roc=decision.roc,
                regime=decision.regime,
                spread_state=decision.spread_state,
                skip_reason=decision.skip_reason,
                reasons=decision.reasons,
            )
    if not payload:
        return {"lane": lane, "signal": None}
    return {
        "lane": lane,
        "signal": {
            **payload,
            "direction": payload.get("direction") or "flat",
            # the engine says "NONE" / "-" when nothing drove a decision
            "conviction": "" if payload.get("conviction") == "NONE" else payload.get("conviction"),
            "driver": "" if payload.get("driver") in (None, "-") else payload.get("driver"),
            "obi_text": percent(payload.get("obi")),
            # the daemon's payload leaves it empty; the entry rules' outcome has it
            "spread_state": payload.get("spread_state")
            or selectors.spread_state_of(payload.get("reasons")),
            "roc_text": "—" if payload.get("roc") is None else f"{payload['roc']:.3f}%",
            "size_mult_text": (
                "—" if payload.get("size_mult") is None else f"×{payload['size_mult']:.2f}"
            ),
            "reasons_json": json.dumps(payload.get("reasons") or {}, sort_keys=True),
        },
    }


def positions_context(lane: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    if payload is not None:
        rows = [
            {
                "ticker": p["ticker"],
                "direction": p["direction"],
                "contracts": contracts(p["contracts"]),
                "entry_price": cents(p["entry_price"]),
                "mark_price": cents(p.get("mark_price")),
                "unrealized_pnl": dollars(p.get("unrealized_pnl")),
                "unrealized_negative": (p.get("unrealized_pnl") or 0) < 0,
                "stop_price": cents(p.get("stop_price")),
                "target_price": cents(p.get("target_price")),
                "cost": dollars(p["cost"]),
            }
            for p in payload.get("positions", [])
        ]
    else:
        rows = [
            {
                "ticker": p.ticker,
                "direction": p.direction,
                "contracts": f"{p.contracts:g}",
                "entry_price": cents(int(p.entry_price * 10_000)),
                "mark_price": "—",
                "unrealized_pnl": "—",
                "unrealized_negative": False,
                "stop_price": cents(None if p.stop_price is None else int(p.stop_price * 10_000)),
                "target_price": cents(
                    None if p.target_price is None else int(p.target_price * 10_000)
                ),
                "cost": dollars(p.cost),
            }
            for p in selectors.positions_list(lane=lane)
        ]
    return {"lane": lane, "positions": rows}


def stats_context(lane: str) -> dict[str, Any]:
    totals = selectors.trade_stats(lane=lane)
    now = clock.trading_now()
    daily = selectors.daily_pnl(lane=lane, days=DAILY_PNL_DAYS, now=now)
    biggest = max((abs(float(row["pnl"] or 0)) for row in daily), default=0.0) or 1.0
    return {
        "lane": lane,
        "totals": {
            **totals,
            "win_rate_text": percent(totals["win_rate"]),
            "best_text": dollars(totals["best"]),
            "worst_text": dollars(totals["worst"]),
            "avg_text": dollars(totals["avg"]),
            "total_text": dollars(totals["total_pnl"]),
        },
        "daily_days": DAILY_PNL_DAYS,
        "daily_to": now.astimezone(dt.UTC).date(),  # the last of the days, in UTC
        "daily": [
            {
                **row,
                "pnl_text": dollars(row["pnl"]),
                "bar_pct": round(abs(float(row["pnl"] or 0)) / biggest * 100),
                "negative": (row["pnl"] or 0) < 0,
            }
            for row in daily
        ],
        "by_regime": [
            {**row, "win_rate_text": percent(row["win_rate"]), "pnl_text": dollars(row["pnl"])}
            for row in selectors.win_rate_by_regime(lane=lane)
        ],
    }


def flagged_context() -> dict[str, Any]:
    return {"flagged": list(selectors.flagged_trades()[:20])}


# --- rendering ----------------------------------------------------------------------------


def render_sidebar(*, can_control: bool) -> str:
    return render_to_string(SIDEBAR, sidebar_context(can_control=can_control))


def render_topic(topic: str, payload: dict[str, Any], *, can_control: bool) -> list[str]:
    """The text frames a topic payload turns into: HTML partials (swapped out-of-band by id)
    and JSON chart ticks (handled by the page's ``htmx:wsBeforeMessage`` listener)."""
    lane = payload.get("lane", Lane.PAPER)
    if topic == "market":
        frames: list[str] = [render_to_string(MARKET, market_context(payload))]
        if payload.get("candle"):
            frames.append(json.dumps({"chart": "btc", "candle": payload["candle"]}))
        return frames
    if topic == "signal":
        return [render_to_string(SIGNAL, signal_context(lane, payload))]
    if topic == "position":
        return [render_to_string(POSITIONS, positions_context(lane, payload))]
    if topic == "trade":
        html = "".join(
            [
                render_to_string(STATS, stats_context(lane)),
                render_to_string(ATTRIBUTION, attribution_context(lane)),
                render_to_string(FLAGGED, flagged_context()),
            ]
        )
        return [html, render_trades()]
    if topic == "equity":
        point = {"time": payload["ts"] // 1000, "value": payload["bankroll"] / 1_000_000}
        return [
            render_sidebar(can_control=can_control),
            json.dumps({"chart": "equity", "lane": lane, "point": point}),
        ]
    if topic == "health":
        return [render_to_string(HEALTH, health_context(payload))]
    return []


def snapshot_context(*, can_control: bool) -> dict[str, Any]:
    """Every widget's context, from the database and the latest published payloads."""
    latest = latest_payloads()
    return {
        "sidebar": sidebar_context(can_control=can_control),
        "market": market_context(latest.get(("market", ""))),
        "signals": [signal_context(lane, latest.get(("signal", lane))) for lane in LANES],
        "health": health_context(latest.get(("health", ""))),
        "positions": [positions_context(lane, latest.get(("position", lane))) for lane in LANES],
        "stats": [stats_context(lane) for lane in LANES],
        "attribution": [attribution_context(lane) for lane in LANES],
        "flagged": flagged_context(),
    }


def render_snapshot(*, can_control: bool) -> str:
    """All live widgets in one frame: what a (re)connecting page swaps in to catch up."""
    context = snapshot_context(can_control=can_control)
    parts = [
        render_to_string(SIDEBAR, context["sidebar"]),
        render_to_string(MARKET, context["market"]),
        *(render_to_string(SIGNAL, signal) for signal in context["signals"]),
        render_to_string(HEALTH, context["health"]),
        *(render_to_string(POSITIONS, positions) for positions in context["positions"]),
        *(render_to_string(STATS, stats) for stats in context["stats"]),
        *(render_to_string(ATTRIBUTION, report) for report in context["attribution"]),
        render_to_string(FLAGGED, context["flagged"]),
    ]
    return "".join(parts)


def trades_context(query: Mapping[str, str]) -> dict[str, Any]:
    """The closed-trades table for a filter query (``lane``, ``direction``, ``exit_reason``,
    ``date_from``, ``date_to``, ``page``); an empty query is the newest page, unfiltered."""
    lane, direction = query.get("lane"), query.get("direction")
    filters: dict[str, Any] = {
        "lane": lane if lane in Lane.values else None,
        "direction": direction if direction in Direction.values else None,
        "exit_reason": (query.get("exit_reason") or "").strip().upper() or None,
        "date_from": _date(query.get("date_from")),
        "date_to": _date(query.get("date_to")),
    }
    trades = selectors.trades_list(**filters)
    page = Paginator(trades, TRADES_PER_PAGE).get_page(query.get("page"))
    return {
        "page": page,
        "filters": {key: value for key, value in filters.items() if value},
        "lanes": Lane.values,
        "directions": Direction.values,
    }


def render_trades() -> str:
    """The newest page of closed trades, pushed in a frame of its own after a trade closes
    or a (re)connect; the page keeps a filtered or paged view and drops the push
    (static/js/dashboard.js), so no request ever follows a push."""
    return render_to_string(TRADES, trades_context({}))


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None
