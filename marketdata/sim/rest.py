"""Kalshi REST market data on the real paths (exchange-protocols.md §1.4); the account
endpoints live in ``orders``. Handlers are thin: they read ``PublicState`` and the schedule."""

from __future__ import annotations

import base64
import json
from typing import Any, Protocol

from aiohttp import web

from marketdata.sim.core import SimCore
from marketdata.sim.schedule import SERIES, SimMarket
from marketdata.sim.state import PublicState
from marketdata.sim.wire import iso, market_json, orderbook_rest, series_json, trade_rest

PREFIX = "/trade-api/v2"
# Status filter vocabulary differs from the status field (VER A-33): filter → field values.
STATUS_FILTER = {
    "unopened": ("initialized",),
    "open": ("active",),
    "closed": ("closed", "determined"),
    "settled": ("finalized",),  # presumed (§7 point 7)
}
HISTORY_S = 86_400  # settled markets stay in the unfiltered listing this long


def error(status: int, code: str, message: str) -> web.Response:
    # Nested form, as observed on the legacy endpoints (§1.5; §7 point 3).
    body = {"error": {"code": code, "message": message, "service": "exchange"}}
    return web.json_response(body, status=status)


def _bad(message: str) -> web.HTTPBadRequest:
    body = {"error": {"code": "invalid_parameters", "message": message, "service": "exchange"}}
    return web.HTTPBadRequest(text=json.dumps(body), content_type="application/json")


def _int(query: Any, name: str, default: int | None = None) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise _bad(f"invalid {name}") from None


def _page(items: list[Any], query: Any) -> tuple[list[Any], str]:
    limit = _int(query, "limit", 100)
    assert limit is not None
    if not 1 <= limit <= 1000:
        raise _bad("invalid limit")
    cursor = query.get("cursor") or ""
    try:
        offset = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
    except ValueError:
        offset = -1
    if offset < 0:
        raise _bad("invalid cursor")
    page = items[offset : offset + limit]
    more = offset + limit < len(items)
    next_cursor = base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if more else ""
    return page, next_cursor


class MarketView(Protocol):
    """What the market-data handlers read of the exchange (``server.SimExchange``)."""

    core: SimCore
    state: PublicState
    released_until: int

    def historical_cutoff(self) -> int: ...


def routes(sim: MarketView) -> list[web.RouteDef]:
    def visible(now: int) -> list[SimMarket]:
        return sim.core.schedule.visible(now, history_s=HISTORY_S)

    async def markets(request: web.Request) -> web.Response:
        now, query = sim.released_until, request.query
        status = query.get("status")
        if status is not None and status not in STATUS_FILTER:
            return error(400, "invalid_parameters", "invalid status filter")
        min_close, max_close = _int(query, "min_close_ts"), _int(query, "max_close_ts")
        min_settled, max_settled = _int(query, "min_settled_ts"), _int(query, "max_settled_ts")
        settled_bounds = min_settled is not None or max_settled is not None
        # Kalshi: time filters exclude each other, and go with one status each (close with
        # closed, settled with settled; exchange-protocols.md §1.4).
        if settled_bounds and (status not in (None, "settled") or min_close or max_close):
            return error(400, "invalid_parameters", "incompatible timestamp filters")
        if (min_close is not None or max_close is not None) and status == "settled":
            return error(400, "invalid_parameters", "close filters do not go with settled")
        if status == "settled" or settled_bounds:
            # Every settled market the path covers since the historical cutoff (older ones
            # are only under /historical/markets, as at Kalshi), not only the last day's.
            cutoff = sim.historical_cutoff()
            low = cutoff if min_settled is None else max(cutoff, min_settled * 1000)
            chosen = sim.core.schedule.settled_by(
                now,
                min_settled_ts=low,
                max_settled_ts=None if max_settled is None else max_settled * 1000,
            )
        else:
            chosen = visible(now)
        if query.get("series_ticker") not in (None, "", SERIES):
            chosen = []
        if query.get("event_ticker"):
            chosen = [m for m in chosen if m.event_ticker == query["event_ticker"]]
        if query.get("tickers"):
            wanted = set(query["tickers"].split(","))
            chosen = [m for m in chosen if m.ticker in wanted]
        if min_close is not None:
            chosen = [m for m in chosen if m.close_ts // 1000 >= min_close]
        if max_close is not None:
            chosen = [m for m in chosen if m.close_ts // 1000 <= max_close]
        bodies = [market_json(m, sim.state, now) for m in chosen]
        if status is not None:
            bodies = [b for b in bodies if b["status"] in STATUS_FILTER[status]]
        page, cursor = _page(bodies, query)
        return web.json_response({"markets": page, "cursor": cursor})

    async def market(request: web.Request) -> web.Response:
        found = sim.core.schedule.by_ticker(request.match_info["ticker"], sim.released_until)
        if found is None:
            return error(404, "not_found", "market not found")
        return web.json_response({"market": market_json(found, sim.state, sim.released_until)})

    async def orderbook(request: web.Request) -> web.Response:
        ticker = request.match_info["ticker"]
        if sim.core.schedule.by_ticker(ticker, sim.released_until) is None:
            return error(404, "not_found", "market not found")
        depth = _int(request.query, "depth", 0)
        assert depth is not None
        if depth > 100:
            return error(400, "invalid_parameters", "depth must be at most 100")
        return web.json_response(orderbook_rest(sim.state, ticker, depth))

    async def trades(request: web.Request) -> web.Response:
        query = request.query
        ticker = query.get("ticker")
        pool = [sim.state.market_stats(ticker)] if ticker else list(sim.state.stats.values())
        chosen = [t for stats in pool for t in stats.trades]
        min_ts, max_ts = _int(query, "min_ts"), _int(query, "max_ts")
        if min_ts is not None:
            chosen = [t for t in chosen if t.ts // 1000 >= min_ts]
        if max_ts is not None:
            chosen = [t for t in chosen if t.ts // 1000 <= max_ts]
        chosen.sort(key=lambda t: (t.ts, t.trade_id), reverse=True)  # newest first
        page, cursor = _page([trade_rest(t) for t in chosen], query)
        return web.json_response({"trades": page, "cursor": cursor})

    async def historical_cutoff(request: web.Request) -> web.Response:
        moment = iso(sim.historical_cutoff())
        return web.json_response(
            {
                "market_settled_ts": moment,
                "trades_created_ts": moment,
                "orders_updated_ts": moment,
                "market_positions_last_updated_ts": moment,
            }
        )

    async def historical_markets(request: web.Request) -> web.Response:
        """Markets settled before the cutoff, newest first; one filter at a time."""
        query = request.query
        filters = [name for name in ("tickers", "event_ticker", "series_ticker") if query.get(name)]
        if len(filters) > 1:
            return error(400, "invalid_parameters", "filters are mutually exclusive")
        cutoff = sim.historical_cutoff()
        chosen = [
            m for m in sim.core.schedule.settled_by(sim.released_until) if m.settle_ts < cutoff
        ]
        if query.get("series_ticker") not in (None, "", SERIES):
            chosen = []
        if query.get("event_ticker"):
            chosen = [m for m in chosen if m.event_ticker == query["event_ticker"]]
        if query.get("tickers"):
            wanted = set(query["tickers"].split(","))
            chosen = [m for m in chosen if m.ticker in wanted]
        bodies = [market_json(m, sim.state, sim.released_until) for m in chosen]
        page, cursor = _page(bodies, query)
        return web.json_response({"markets": page, "cursor": cursor})

    async def series(request: web.Request) -> web.Response:
        if request.match_info["series"] != SERIES:
            return error(404, "not_found", "series not found")
        return web.json_response({"series": series_json()})

    async def exchange_status(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "exchange_active": True,
                "trading_active": True,
                "exchange_estimated_resume_time": None,
            }
        )

    return [
        web.get(f"{PREFIX}/markets", markets),
        web.get(f"{PREFIX}/markets/trades", trades),
        web.get(f"{PREFIX}/markets/{{ticker}}", market),
        web.get(f"{PREFIX}/markets/{{ticker}}/orderbook", orderbook),
        web.get(f"{PREFIX}/series/{{series}}", series),
        web.get(f"{PREFIX}/historical/cutoff", historical_cutoff),
        web.get(f"{PREFIX}/historical/markets", historical_markets),
        web.get(f"{PREFIX}/exchange/status", exchange_status),
    ]
