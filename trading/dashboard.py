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
from django.db import connection
from django.template.loader import render_to_string

from trading import clock, selectors
from trading.live import latest_payloads
from trading.models import Direction, Lane

LANES = tuple(Lane.values)

# widget templates, by the ids they render
SIDEBAR = "trading/partials/sidebar.html"
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


def percent(fraction: float | None, digits: int = 1) -> str:
    return "—" if fraction is None else f"{fraction * 100:.{digits}f}%"


# --- contexts -----------------------------------------------------------------------------


def sidebar_context(*, can_control: bool, message: str = "") -> dict[str, Any]:
    status = selectors.status()
    lanes = []
    for risk in status["lanes"]:
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
        "controls": status["controls"],
        "lanes": lanes,
        "trader": status["trader"],
        "overrides_active": status["overrides_active"],
        "params_error": status["params_error"],
        "can_control": can_control,
        "message": message,
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
            payload = {
                "ts": int(decision.ts.timestamp() * 1000),
                "direction": decision.direction or None,
                "conviction": decision.conviction,
                "driver": decision.driver,
                "obi": decision.obi,
                "roc": decision.roc,
                "regime": decision.regime,
                "spread_state": decision.spread_state,
                "skip_reason": decision.skip_reason,
                "reasons": decision.reasons,
                "ticker": decision.ticker,
            }
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
            "roc_text": "—" if payload.get("roc") is None else f"{payload['roc']:.3f}%",
            "reasons_json": json.dumps(payload.get("reasons") or {}, sort_keys=True),
        },
    }


def health_context(payload: dict[str, Any] | None) -> dict[str, Any]:
    """The trader's own report, arranged so that only what is wrong stands out: its
    troubles as a list above the feeds (refused overrides, a store it cannot reach, events
    it failed on, orders the book could not fill), each feed's counters with its problems
    beside them, and a quiet line for what is fine."""
    return {
        "health": payload,
        "feeds": [_feed_row(feed) for feed in (payload or {}).get("feeds", [])],
        "troubles": _trader_troubles(payload or {}),
        "fine": _trader_fine(payload or {}),
        "trader": selectors.trader_heartbeat(),
        "web_db": _db_state(),
    }


FEED_PROBLEMS = (  # FeedStats counters that are zero on a healthy socket
    ("handler_errors", "handler errors"),
    ("exchange_errors", "exchange errors"),
    ("market_refresh_errors", "market-list refresh errors"),
)


def _feed_row(feed: dict[str, Any]) -> dict[str, Any]:
    problems = []
    if feed.get("malformed"):
        reasons = _counts(feed.get("malformed_reasons") or {})
        problems.append(f"malformed: {feed['malformed']}" + (f" ({reasons})" if reasons else ""))
    problems.extend(f"{label}: {feed[key]}" for key, label in FEED_PROBLEMS if feed.get(key))
    connected = feed.get("state") == "connected"
    if not connected and feed.get("last_error"):
        problems.append(f"last error: {feed['last_error']}")
    return {**feed, "connected": connected, "problems": problems}


def _trader_troubles(payload: dict[str, Any]) -> list[dict[str, str]]:
    """``level`` "bad" for what needs the operator now, "warn" for what went wrong and was
    handled; what is fine is not listed (the quiet line says it)."""
    troubles = []
    if payload.get("params_error"):
        troubles.append(
            {
                "level": "bad",
                "label": "Parameters",
                "text": f"{payload['params_error']}. The trader keeps trading on the "
                "parameters already in force.",
            }
        )
    for key, label in (("db", "Trader's DB"), ("redis", "Redis publishes")):
        level = _store_level(payload.get(key))
        if level:
            troubles.append({"level": level, "label": label, "text": str(payload[key])})
    if payload.get("event_errors"):
        troubles.append(
            {
                "level": "warn",
                "label": "Event errors",
                "text": f"{payload['event_errors']} events failed (logged and skipped)",
            }
        )
    if payload.get("orders_unfilled"):
        troubles.append(
            {
                "level": "warn",
                "label": "Unfilled orders",
                "text": _counts(
                    {key.replace(":", ": ", 1): n for key, n in payload["orders_unfilled"].items()}
                ),
            }
        )
    return troubles


def _trader_fine(payload: dict[str, Any]) -> list[str]:
    fine = [
        f"{label}: {payload[key]}"
        for key, label in (("db", "Trader's DB"), ("redis", "Redis"))
        if key in payload and not _store_level(payload[key])
    ]
    if payload.get("event_errors") == 0:
        fine.append("no event errors")
    if payload.get("events_per_s") is not None:
        fine.append(f"{payload['events_per_s']} events/s")
    return fine


def _store_level(state: Any) -> str:
    """The daemon says "ok", "ok (N … earlier/failed/dropped)" after a handled trouble, and
    anything else ("retrying (N writes waiting): …", "failing …") during an outage."""
    if state is None or state == "ok" or str(state).startswith("not used"):
        return ""
    return "warn" if str(state).startswith("ok") else "bad"


def _counts(counter: Mapping[str, Any]) -> str:
    ranked = sorted(counter.items(), key=lambda item: (-int(item[1] or 0), item[0]))
    return ", ".join(f"{name} ×{count}" for name, count in ranked)


def _db_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as error:  # the panel reports it; nothing to recover here
        return f"error: {type(error).__name__}"


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


def stats_context() -> dict[str, Any]:
    totals = selectors.trade_stats(lane=Lane.PAPER)
    now = clock.trading_now()
    daily = selectors.daily_pnl(lane=Lane.PAPER, days=DAILY_PNL_DAYS, now=now)
    biggest = max((abs(float(row["pnl"] or 0)) for row in daily), default=0.0) or 1.0
    return {
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
            for row in selectors.win_rate_by_regime(lane=Lane.PAPER)
        ],
    }


def flagged_context() -> dict[str, Any]:
    return {"flagged": list(selectors.flagged_trades()[:20])}


# --- rendering ----------------------------------------------------------------------------


def render_sidebar(*, can_control: bool, message: str = "") -> str:
    return render_to_string(SIDEBAR, sidebar_context(can_control=can_control, message=message))


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
                render_to_string(STATS, stats_context()),
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
        "stats": stats_context(),
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
        render_to_string(STATS, context["stats"]),
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
