"""Kalshi order endpoints and portfolio reads on their real paths (exchange-protocols.md §1.4).

- V2, what the official SDK 3.34 uses: ``POST /portfolio/events/orders`` (``side`` bid/ask,
  fixed-point ``price``/``count``), ``DELETE /portfolio/events/orders/{id}``,
  ``POST /portfolio/events/orders/{id}/amend`` and ``.../decrease``.
- Legacy: ``POST /portfolio/orders`` (``side`` yes/no + ``action``, integer cents or
  ``*_dollars``, ``count`` or ``count_fp``), ``DELETE /portfolio/orders/{id}``, and its
  ``/amend`` and ``/decrease``.
- Reads: ``GET /portfolio/orders[/{id}]``, ``/fills``, ``/positions``, ``/settlements``,
  ``/balance``.

Errors use the nested legacy body on every path (§1.5: observed in production; the SDK3 flat
model may apply to V2, §7 point 3 — our client reads both). Handlers are thin: parse, ask
``MatchingEngine``, publish its events through the server.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from aiohttp import web

from marketdata.model.events import Event
from marketdata.model.units import (
    PRICE_MAX,
    WireFormatError,
    format_fp,
    parse_dollars,
    parse_fp,
)
from marketdata.sim.account_wire import (
    balance_json,
    created_v2_json,
    fill_json,
    money,
    order_json,
    position_json,
    settlement_json,
)
from marketdata.sim.auth import KEY_ID
from marketdata.sim.clearing import Clearing
from marketdata.sim.matching import MatchingEngine
from marketdata.sim.order_types import OrderError, OrderRequest, SimOrder
from marketdata.sim.rest import PREFIX, _page, error

V2 = f"{PREFIX}/portfolio/events/orders"
LEGACY = f"{PREFIX}/portfolio/orders"


def _bad(message: str) -> OrderError:
    return OrderError(400, "invalid_parameters", message)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, json.JSONDecodeError):
        raise _bad("body is not JSON") from None
    if not isinstance(body, dict):
        raise _bad("body must be a JSON object")
    return body


def _str(body: dict[str, Any], name: str, required: bool = True) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise _bad(f"{name} is required")
    return value


def _count(body: dict[str, Any], whole: str, fp: str, required: bool = True) -> int | None:
    """A count from ``whole`` (integer contracts) and/or ``fp``; both must agree."""
    values = []
    if body.get(whole) is not None:
        raw = body[whole]
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise _bad(f"invalid {whole}")
        values.append(raw * 100 if isinstance(raw, int) else _fp(raw, whole))
    if body.get(fp) is not None:
        values.append(_fp(body[fp], fp))
    if not values:
        if required:
            raise _bad(f"{whole} is required")
        return None
    if len(set(values)) > 1:
        raise _bad(f"{whole} and {fp} disagree")
    return values[0]


def _fp(raw: object, name: str) -> int:
    try:
        return parse_fp(raw, name)
    except WireFormatError:
        raise _bad(f"invalid {name}") from None


def _price(raw: object, name: str) -> int:
    try:
        return parse_dollars(raw, name)
    except WireFormatError:
        raise OrderError(400, "invalid_price", "invalid price") from None


def _legacy_price(body: dict[str, Any], side: str) -> int:
    """YES-space price from ``yes_price``/``no_price`` (cents, 1-99) or their ``_dollars``."""
    for name, is_yes in (("yes_price", True), ("no_price", False)):
        if body.get(name) is not None:
            cents = body[name]
            if isinstance(cents, bool) or not isinstance(cents, int) or not 1 <= cents <= 99:
                raise OrderError(400, "invalid_price", "invalid price")
            price = cents * 100
            return price if is_yes else PRICE_MAX - price
        if body.get(f"{name}_dollars") is not None:
            price = _price(body[f"{name}_dollars"], f"{name}_dollars")
            return price if is_yes else PRICE_MAX - price
    raise _bad("a price is required")


def parse_v2(body: dict[str, Any]) -> OrderRequest:
    side = body.get("side")
    if side not in ("bid", "ask"):
        raise _bad("side must be bid or ask")
    tif = _str(body, "time_in_force")
    if body.get("reduce_only") and tif != "immediate_or_cancel":
        raise _bad("reduce_only requires immediate_or_cancel")
    if tif == "immediate_or_cancel" and body.get("expiration_time") is not None:
        raise _bad("immediate_or_cancel cannot have expiration_time")
    count = _fp(body.get("count"), "count")
    return OrderRequest(
        ticker=_str(body, "ticker"),
        book_side=side,
        yes_price=_price(body.get("price"), "price"),
        count=count,
        time_in_force=tif,
        client_order_id=_str(body, "client_order_id", required=False),
        side="yes",
        action="buy" if side == "bid" else "sell",
        self_trade_prevention_type=_str(body, "self_trade_prevention_type"),
        post_only=bool(body.get("post_only")),
        expiration_ts=body.get("expiration_time"),
        reduce_only=bool(body.get("reduce_only")),
    )


def parse_legacy(body: dict[str, Any]) -> OrderRequest:
    side, action = body.get("side"), body.get("action")
    if side not in ("yes", "no") or action not in ("buy", "sell"):
        raise _bad("side (yes|no) and action (buy|sell) are required")
    if body.get("type") not in (None, "limit"):
        # ``type=market`` is no longer offered (protocols §0.1 point 3).
        raise _bad("type market is no longer supported")
    count = _count(body, "count", "count_fp")
    assert count is not None
    return OrderRequest(
        ticker=_str(body, "ticker"),
        book_side="bid" if (side == "yes") == (action == "buy") else "ask",
        yes_price=_legacy_price(body, side),
        count=count,
        time_in_force=body.get("time_in_force") or "good_till_canceled",
        client_order_id=_str(body, "client_order_id", required=False),
        side=side,
        action=action,
        self_trade_prevention_type=body.get("self_trade_prevention_type") or "taker_at_cross",
        post_only=bool(body.get("post_only")),
        expiration_ts=body.get("expiration_ts"),
        reduce_only=bool(body.get("reduce_only")),
    )


class OrderDesk(Protocol):
    """What the order handlers need of the exchange (``server.SimExchange``)."""

    engine: MatchingEngine
    clearing: Clearing
    released_until: int

    def order_time(self) -> int: ...

    def publish(self, events: list[Event]) -> None: ...


def routes(sim: OrderDesk) -> list[web.RouteDef]:
    engine = sim.engine

    def user(request: web.Request) -> str:
        return request[KEY_ID]

    def write(handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.Response:
            try:
                return await handler(request, user(request), sim.order_time())
            except OrderError as exc:
                return error(exc.status, exc.code, exc.message)

        return wrapped

    @write
    async def create_v2(request: web.Request, uid: str, ts: int) -> web.Response:
        order, events = engine.place(uid, parse_v2(await _body(request)), ts)
        sim.publish(events)
        return web.json_response(created_v2_json(order), status=201)

    @write
    async def create_legacy(request: web.Request, uid: str, ts: int) -> web.Response:
        order, events = engine.place(uid, parse_legacy(await _body(request)), ts)
        sim.publish(events)
        return web.json_response({"order": order_json(order)}, status=201)

    @write
    async def cancel_v2(request: web.Request, uid: str, ts: int) -> web.Response:
        order, reduced, events = engine.cancel(uid, request.match_info["order_id"], ts)
        sim.publish(events)
        body = {"order_id": order.order_id, "client_order_id": order.client_order_id}
        return web.json_response(body | {"reduced_by": format_fp(reduced), "ts_ms": ts})

    @write
    async def cancel_legacy(request: web.Request, uid: str, ts: int) -> web.Response:
        order, reduced, events = engine.cancel(uid, request.match_info["order_id"], ts)
        sim.publish(events)
        return web.json_response({"order": order_json(order), "reduced_by_fp": format_fp(reduced)})

    async def _amend(request: web.Request, uid: str, ts: int, v2: bool) -> SimOrder:
        body = await _body(request)
        order = engine.owned(uid, request.match_info["order_id"])
        if v2:
            side = body.get("side")
            price = _price(body.get("price"), "price")
            total = _fp(body.get("count"), "count")
        else:
            side = "bid" if (body.get("side") == "yes") == (body.get("action") == "buy") else "ask"
            price = _legacy_price(body, str(body.get("side")))
            total = _count(body, "count", "count_fp", required=False) or order.initial
        if body.get("ticker") != order.ticker or side != order.request.book_side:
            raise _bad("ticker and side must match the order")
        new_id = body.get("updated_client_order_id")
        amended, events = engine.amend(
            uid, order.order_id, price, total, ts, new_id if isinstance(new_id, str) else None
        )
        sim.publish(events)
        return amended

    @write
    async def amend_v2(request: web.Request, uid: str, ts: int) -> web.Response:
        return web.json_response(created_v2_json(await _amend(request, uid, ts, True)))

    @write
    async def amend_legacy(request: web.Request, uid: str, ts: int) -> web.Response:
        before = order_json(engine.owned(uid, request.match_info["order_id"]))
        order = await _amend(request, uid, ts, False)
        return web.json_response({"old_order": before, "order": order_json(order)})

    async def _decrease(request: web.Request, uid: str, ts: int) -> SimOrder:
        body = await _body(request)
        order = engine.owned(uid, request.match_info["order_id"])
        by = _count(body, "reduce_by", "reduce_by_fp", required=False)
        to = _count(body, "reduce_to", "reduce_to_fp", required=False)
        if (by is None) == (to is None):
            raise _bad("give exactly one of reduce_by and reduce_to")
        amount = by if by is not None else order.remaining - (to or 0)
        decreased, events = engine.decrease(uid, order.order_id, amount, ts)
        sim.publish(events)
        return decreased

    @write
    async def decrease_v2(request: web.Request, uid: str, ts: int) -> web.Response:
        order = await _decrease(request, uid, ts)
        body = {"order_id": order.order_id, "client_order_id": order.client_order_id}
        return web.json_response(
            body | {"remaining_count": format_fp(order.remaining), "ts_ms": ts}
        )

    @write
    async def decrease_legacy(request: web.Request, uid: str, ts: int) -> web.Response:
        return web.json_response({"order": order_json(await _decrease(request, uid, ts))})

    # --- reads ---------------------------------------------------------------------------

    def _window(rows: list[Any], query: Any, stamp: Any) -> list[Any]:
        for name, keep in (("min_ts", lambda t, b: t >= b), ("max_ts", lambda t, b: t <= b)):
            if query.get(name):
                try:
                    bound = int(query[name])
                except ValueError:
                    raise _bad(f"invalid {name}") from None
                rows = [r for r in rows if keep(stamp(r) // 1000, bound)]
        return rows

    async def get_order(request: web.Request) -> web.Response:
        try:
            order = engine.owned(user(request), request.match_info["order_id"])
        except OrderError as exc:
            return error(exc.status, exc.code, exc.message)
        return web.json_response({"order": order_json(order)})

    async def list_orders(request: web.Request) -> web.Response:
        query, uid = request.query, user(request)
        rows = [o for o in engine.orders.values() if o.user_id == uid]
        if query.get("ticker"):
            rows = [o for o in rows if o.ticker == query["ticker"]]
        if query.get("event_ticker"):
            events = set(query["event_ticker"].split(","))
            rows = [o for o in rows if o.ticker.rsplit("-", 1)[0] in events]
        status = query.get("status")
        if status:
            if status not in ("resting", "canceled", "executed"):
                return error(400, "invalid_parameters", "invalid status filter")
            rows = [o for o in rows if o.status == status]
        try:
            rows = _window(rows, query, lambda o: o.created_ts)
        except OrderError as exc:
            return error(exc.status, exc.code, exc.message)
        page, cursor = _page([order_json(o) for o in reversed(rows)], query)
        return web.json_response({"orders": page, "cursor": cursor})

    async def fills(request: web.Request) -> web.Response:
        query = request.query
        rows = list(sim.clearing.account(user(request)).fills)
        if query.get("ticker"):
            tickers = set(query["ticker"].split(","))
            rows = [f for f in rows if f.ticker in tickers]
        if query.get("order_id"):
            rows = [f for f in rows if f.order_id == query["order_id"]]
        try:
            rows = _window(rows, query, lambda f: f.ts)
        except OrderError as exc:
            return error(exc.status, exc.code, exc.message)
        page, cursor = _page([fill_json(f) for f in reversed(rows)], query)
        return web.json_response({"fills": page, "cursor": cursor})

    async def positions(request: web.Request) -> web.Response:
        query = request.query
        account = sim.clearing.account(user(request))
        settled = {s.ticker for s in account.settlements}
        status = query.get("settlement_status") or "unsettled"
        if status not in ("unsettled", "settled", "all"):
            return error(400, "invalid_parameters", "invalid settlement_status")
        rows = [p for p in account.positions.values() if p.volume or p.position]
        if status != "all":
            rows = [p for p in rows if (p.ticker in settled) == (status == "settled")]
        if query.get("ticker"):
            rows = [p for p in rows if p.ticker == query["ticker"]]
        if query.get("event_ticker"):
            rows = [p for p in rows if p.ticker.rsplit("-", 1)[0] == query["event_ticker"]]
        filters = set(filter(None, (query.get("count_filter") or "").split(",")))
        if "position" in filters:
            rows = [p for p in rows if p.position]
        if "total_traded" in filters:
            rows = [p for p in rows if p.volume]
        page, cursor = _page([position_json(p) for p in rows], query)
        events: dict[str, dict[str, int]] = {}
        for p in rows:
            agg = events.setdefault(p.ticker.rsplit("-", 1)[0], dict.fromkeys("cspf", 0))
            agg["c"] += p.cost
            agg["s"] += abs(p.position)
            agg["p"] += p.realized_pnl
            agg["f"] += p.fees_paid
        event_rows = [
            {
                "event_ticker": name,
                "total_cost_dollars": money(agg["c"]),
                "total_cost_shares_fp": format_fp(agg["s"]),
                "event_exposure_dollars": money(agg["c"]),
                "realized_pnl_dollars": money(agg["p"]),
                "fees_paid_dollars": money(agg["f"]),
                "exchange_index": 0,
            }
            for name, agg in events.items()
        ]
        body = {"market_positions": page, "event_positions": event_rows, "cursor": cursor}
        return web.json_response(body)

    async def settlements(request: web.Request) -> web.Response:
        query = request.query
        rows = list(sim.clearing.account(user(request)).settlements)
        if query.get("ticker"):
            rows = [s for s in rows if s.ticker == query["ticker"]]
        if query.get("event_ticker"):
            rows = [s for s in rows if s.event_ticker == query["event_ticker"]]
        try:
            rows = _window(rows, query, lambda s: s.settled_ts)
        except OrderError as exc:
            return error(exc.status, exc.code, exc.message)
        page, cursor = _page([settlement_json(s) for s in reversed(rows)], query)
        return web.json_response({"settlements": page, "cursor": cursor})

    async def balance(request: web.Request) -> web.Response:
        account = sim.clearing.account(user(request))
        return web.json_response(balance_json(account, sim.released_until))

    return [
        web.post(V2, create_v2),
        web.delete(f"{V2}/{{order_id}}", cancel_v2),
        web.post(f"{V2}/{{order_id}}/amend", amend_v2),
        web.post(f"{V2}/{{order_id}}/decrease", decrease_v2),
        web.post(LEGACY, create_legacy),
        web.get(LEGACY, list_orders),
        web.get(f"{LEGACY}/{{order_id}}", get_order),
        web.delete(f"{LEGACY}/{{order_id}}", cancel_legacy),
        web.post(f"{LEGACY}/{{order_id}}/amend", amend_legacy),
        web.post(f"{LEGACY}/{{order_id}}/decrease", decrease_legacy),
        web.get(f"{PREFIX}/portfolio/fills", fills),
        web.get(f"{PREFIX}/portfolio/positions", positions),
        web.get(f"{PREFIX}/portfolio/settlements", settlements),
        web.get(f"{PREFIX}/portfolio/balance", balance),
    ]
