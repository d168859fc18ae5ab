"""Async Kalshi REST client (exchange-protocols.md §1): the endpoints, over the signed, paced
and retried HTTP of ``transport``.

Creating an order is never retried blindly: when the answer is lost (timeout, 5xx, reset
after sending) the order is looked up by ``client_order_id`` first, and only resent when it
is not there; the resend reuses the same ``client_order_id``, which Kalshi rejects with 409
if the first one did land (§1.4), so exactly one order exists afterwards. A 429 on create is
definitely not placed and is retried within the write bucket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import structlog

from marketdata.kalshi.account_wire import (
    Balance,
    BookSide,
    CreatedOrder,
    OrderInfo,
    Position,
    Settlement,
    created_from_order,
    parse_balance,
    parse_created_order,
    parse_fill,
    parse_order,
    parse_position,
    parse_settlement,
)
from marketdata.kalshi.errors import (
    KalshiConflict,
    KalshiError,
    KalshiNotFound,
    KalshiRateLimited,
    KalshiServerError,
    KalshiTransportError,
    OrderOutcomeUnknown,
    error_for_status,
)
from marketdata.kalshi.transport import MAX_PAGES, KalshiTransport
from marketdata.kalshi.wire import (
    MarketInfo,
    SeriesInfo,
    field,
    mapping,
    parse_market,
    parse_orderbook,
    parse_public_trade,
    parse_series,
)
from marketdata.model.events import BookSnapshot, OwnFill, PublicTrade
from marketdata.model.units import WireFormatError, format_dollars, format_fp, parse_fp
from marketdata.ratelimit import DEFAULT_COST

log = structlog.get_logger(__name__)

TimeInForce = Literal["fill_or_kill", "good_till_canceled", "immediate_or_cancel"]
SelfTradePrevention = Literal["taker_at_cross", "maker"]

V2_ORDERS = "/portfolio/events/orders"
CANCEL_V2_COST = 2  # tokens (protocols §1.4, cancel-order-v2)


def _epoch_ms(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value > 10**11 else value * 1000
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None:
            return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000)
    raise WireFormatError(f"not a time: {value!r}")


class _NotPlaced(Exception):
    """Internal: the create never reached the exchange (connection refused or timed out)."""


class _Ambiguous(Exception):
    """Internal: a create whose outcome is unknown."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KalshiRestClient(KalshiTransport):
    """Kalshi's REST endpoints: public market data, portfolio reads, creating and cancelling
    orders. Settings and retries are ``KalshiTransport``'s."""

    # --- public market data --------------------------------------------------------------

    async def list_markets(
        self,
        *,
        series_ticker: str | None = None,
        status: str | None = None,
        event_ticker: str | None = None,
        tickers: Iterable[str] | None = None,
        limit: int = 1000,
    ) -> list[MarketInfo]:
        """Markets by series and status filter (``unopened|open|closed|settled``: the filter's
        own words, not the status field's, protocols §1.4)."""
        params = {
            "series_ticker": series_ticker,
            "status": status,
            "event_ticker": event_ticker,
            "tickers": ",".join(tickers) if tickers else None,
            "limit": limit,
        }
        rows = await self._paginate("/markets", "markets", params)
        return self._parse_rows(parse_market, rows, "market")

    async def list_market_objects(
        self,
        *,
        series_ticker: str,
        status: str,
        min_settled_ts: int | None = None,
        max_settled_ts: int | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """The raw market objects of a listing (settlement-time bounds in Unix seconds, the
        one time filter ``status=settled`` takes), for callers that keep fields
        ``MarketInfo`` does not carry (the settled-markets back-fill)."""
        params = {
            "series_ticker": series_ticker,
            "status": status,
            "min_settled_ts": min_settled_ts,
            "max_settled_ts": max_settled_ts,
            "limit": limit,
        }
        rows = await self._paginate("/markets", "markets", params)
        return self._parse(lambda rs: [dict(mapping(r, "market")) for r in rs], rows, "markets")

    async def get_historical_cutoff(self) -> int:
        """``market_settled_ts`` of ``GET /historical/cutoff`` as epoch ms: markets settled
        before it are only under ``/historical/markets`` (protocols §1.4). Accepts RFC 3339
        or epoch seconds, as the field's format is not pinned down."""
        body = await self._read("/historical/cutoff")
        return self._parse(
            lambda b: _epoch_ms(field(mapping(b, "body"), "market_settled_ts")), body, "cutoff"
        )

    async def historical_market_pages(
        self, *, series_ticker: str, limit: int = 1000, max_pages: int = 2000
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of ``GET /historical/markets`` (newest first), so a caller can stop early."""
        cursor: str | None = None
        for _ in range(max_pages):
            params = {"series_ticker": series_ticker, "limit": limit, "cursor": cursor}
            body = mapping(await self._read("/historical/markets", params), "historical")
            rows = body.get("markets") or []
            yield self._parse(lambda rs: [dict(mapping(r, "market")) for r in rs], rows, "markets")
            cursor = body.get("cursor") or None
            if cursor is None:
                return
        log.warning("kalshi_rest_page_limit", path="/historical/markets", pages=max_pages)

    async def get_market(self, ticker: str) -> MarketInfo:
        body = await self._read(f"/markets/{ticker}")
        return self._parse(
            lambda b: parse_market(field(mapping(b, "body"), "market")), body, "market"
        )

    async def get_orderbook(self, ticker: str, depth: int = 0) -> BookSnapshot:
        body = await self._read(f"/markets/{ticker}/orderbook", {"depth": depth or None})
        ts = self._clock_ms()  # the REST book has no exchange time; stamp when it arrived
        return self._parse(lambda b: parse_orderbook(b, ticker, ts), body, "orderbook")

    async def list_trades(
        self,
        *,
        ticker: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        limit: int = 1000,
        max_pages: int = MAX_PAGES,
    ) -> list[PublicTrade]:
        """Public trades; ``min_ts``/``max_ts`` are Unix seconds as the API takes them."""
        params = {"ticker": ticker, "min_ts": min_ts, "max_ts": max_ts, "limit": limit}
        rows = await self._paginate("/markets/trades", "trades", params, max_pages)
        return self._parse_rows(parse_public_trade, rows, "trade")

    async def get_series(self, series_ticker: str) -> SeriesInfo:
        body = await self._read(f"/series/{series_ticker}")
        return self._parse(
            lambda b: parse_series(field(mapping(b, "body"), "series")), body, "series"
        )

    # --- portfolio reads -----------------------------------------------------------------

    async def get_balance(self) -> Balance:
        return self._parse(parse_balance, await self._read("/portfolio/balance"), "balance")

    async def list_positions(
        self,
        *,
        ticker: str | None = None,
        count_filter: str | None = "position",
        settlement_status: str | None = None,
    ) -> list[Position]:
        params = {
            "ticker": ticker,
            "count_filter": count_filter,
            "settlement_status": settlement_status,
            "limit": 1000,
        }
        rows = await self._paginate("/portfolio/positions", "market_positions", params)
        return self._parse_rows(parse_position, rows, "position")

    async def get_order(self, order_id: str) -> OrderInfo:
        body = await self._read(f"/portfolio/orders/{order_id}", cost=DEFAULT_COST)
        return self._parse(lambda b: parse_order(field(mapping(b, "body"), "order")), body, "order")

    async def list_orders(
        self,
        *,
        ticker: str | None = None,
        status: str | None = None,
        min_ts: int | None = None,
        limit: int = 1000,
        max_pages: int = MAX_PAGES,
    ) -> list[OrderInfo]:
        params = {"ticker": ticker, "status": status, "min_ts": min_ts, "limit": limit}
        rows = await self._paginate("/portfolio/orders", "orders", params, max_pages)
        return self._parse_rows(parse_order, rows, "order")

    async def list_fills(
        self,
        *,
        ticker: str | None = None,
        order_id: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        limit: int = 1000,
    ) -> list[OwnFill]:
        params = {
            "ticker": ticker,
            "order_id": order_id,
            "min_ts": min_ts,
            "max_ts": max_ts,
            "limit": limit,
        }
        rows = await self._paginate("/portfolio/fills", "fills", params)
        return self._parse_rows(parse_fill, rows, "fill")

    async def list_settlements(
        self, *, ticker: str | None = None, min_ts: int | None = None, limit: int = 1000
    ) -> list[Settlement]:
        params = {"ticker": ticker, "min_ts": min_ts, "limit": limit}
        rows = await self._paginate("/portfolio/settlements", "settlements", params)
        return self._parse_rows(parse_settlement, rows, "settlement")

    # --- orders --------------------------------------------------------------------------

    async def find_order_by_client_id(
        self, client_order_id: str, *, ticker: str | None = None
    ) -> OrderInfo | None:
        """The order carrying ``client_order_id``, or None. The list endpoint has no documented
        ``client_order_id`` filter, so this lists (by ticker when known) and matches."""
        for order in await self.list_orders(ticker=ticker):
            if order.client_order_id == client_order_id:
                return order
        return None

    async def create_order(
        self,
        *,
        ticker: str,
        book_side: BookSide,
        yes_price: int,
        count: int,
        time_in_force: TimeInForce,
        client_order_id: str,
        post_only: bool = False,
        reduce_only: bool = False,
        self_trade_prevention_type: SelfTradePrevention = "taker_at_cross",
        expiration_ts: int | None = None,
    ) -> CreatedOrder:
        """Place a limit order on the V2 endpoint (``bid`` buys YES, ``ask`` sells YES; buying
        NO at q is an ``ask`` at YES price 1 - q; use ``account_wire.book_side_for``).

        V2, not the legacy ``POST /portfolio/orders``: the legacy path is to be deprecated and
        what it does with a stray ``type`` field is undocumented (protocols §7 point 2); V2 is
        what the most recent official SDK (3.34) sends, and it has no ``type`` at all. A
        marketable order is a crossing limit price with ``immediate_or_cancel``.

        ``yes_price`` is price units ($0.0001), ``count`` hundredths of a contract. Returns the
        created order, or the same order found again by ``client_order_id`` after a lost
        answer (``recovered=True``). Raises ``OrderOutcomeUnknown`` only when every attempt's
        outcome stayed unknown.
        """
        if not client_order_id:
            raise ValueError("client_order_id is required: it is how a lost answer is settled")
        if not 0 < yes_price < 10_000 or count <= 0:
            raise ValueError(f"bad order: yes_price={yes_price} count={count}")
        body: dict[str, Any] = {
            "ticker": ticker,
            "client_order_id": client_order_id,
            "side": book_side,
            "count": format_fp(count),
            "price": format_dollars(yes_price),
            "time_in_force": time_in_force,
            "self_trade_prevention_type": self_trade_prevention_type,
        }
        if post_only:
            body["post_only"] = True
        if reduce_only:
            body["reduce_only"] = True
        if expiration_ts is not None:
            body["expiration_time"] = expiration_ts

        backoff = self._backoff()
        maybe_placed = False  # an earlier attempt may have created the order
        last: KalshiError | None = None
        for attempt in range(1, self.max_write_attempts + 1):
            await self.write_bucket.acquire(DEFAULT_COST)
            try:
                return await self._create_once(body)
            except KalshiRateLimited as exc:
                self.stats.rate_limited += 1
                last = exc  # not placed: Kalshi refused before looking at it
            except _NotPlaced as exc:
                last = KalshiTransportError(None, "connect_failed", str(exc))
            except KalshiConflict as exc:
                if not maybe_placed:
                    raise self._fail(exc) from None
                # A 409 after a lost answer is (usually) our own first order: find it.
                found = await self._recover(ticker, client_order_id)
                if found is not None:
                    return found
                raise self._fail(exc) from None
            except _Ambiguous as exc:
                maybe_placed = True
                self.stats.ambiguous_creates += 1
                log.warning(
                    "kalshi_create_ambiguous",
                    ticker=ticker,
                    client_order_id=client_order_id,
                    reason=exc.reason,
                )
                found = await self._recover(ticker, client_order_id)
                if found is not None:
                    return found
                last = OrderOutcomeUnknown(None, "ambiguous", exc.reason)
            if attempt < self.max_write_attempts:
                self.stats.retries += 1
                await self._sleep(backoff.next_delay())
        assert last is not None
        if maybe_placed:
            raise self._fail(OrderOutcomeUnknown(last.status, "ambiguous", last.message))
        raise self._fail(last)

    async def _create_once(self, body: dict[str, Any]) -> CreatedOrder:
        try:
            response = await self._send(
                "POST", V2_ORDERS, json=body, timeout_s=self.order_timeout_s
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Never reached the server: definitely not placed, like a 429.
            raise _NotPlaced(f"{type(exc).__name__}: {exc}") from None
        except httpx.TransportError as exc:
            raise _Ambiguous(f"{type(exc).__name__}: {exc}") from None
        if response.is_success:
            try:
                return parse_created_order(response.json())
            except (ValueError, WireFormatError) as exc:
                # Accepted, but the answer is unreadable: find the order instead of guessing.
                self.stats.malformed += 1
                raise _Ambiguous(f"unreadable create answer: {exc}") from None
        error = error_for_status(response.status_code, response.text)
        if isinstance(error, KalshiServerError):
            raise _Ambiguous(str(error))
        raise error

    async def _recover(self, ticker: str, client_order_id: str) -> CreatedOrder | None:
        """Look for the order a lost answer may have created; a short wait between looks
        covers the exchange's lag in listing a fresh order."""
        for look in range(self.lookup_attempts):
            try:
                order = await self.find_order_by_client_id(client_order_id, ticker=ticker)
            except KalshiError as exc:
                log.warning(
                    "kalshi_create_lookup_failed", client_order_id=client_order_id, error=str(exc)
                )
                order = None
            if order is not None:
                self.stats.recovered_creates += 1
                log.info(
                    "kalshi_create_recovered",
                    client_order_id=client_order_id,
                    order_id=order.order_id,
                )
                return created_from_order(order)
            if look + 1 < self.lookup_attempts:
                await self._sleep(0.05 * (look + 1))
        return None

    async def cancel_order(self, order_id: str, *, ticker: str) -> int | None:
        """Cancel on the V2 endpoint; returns the count (hundredths) the order was reduced by,
        or None when the order was already terminal or unknown (404).

        Protocols §7 point 4 leaves the code open; the most recent source, SDK3's
        ``cancel_order_v2`` response map (200/401/404/500), lists 404 as the only "no such
        order" answer, which is what is read as terminal (the original bot also took 410).
        """
        try:
            body = await self._read(
                f"{V2_ORDERS}/{order_id}",
                {"market_ticker": ticker},
                method="DELETE",
                cost=CANCEL_V2_COST,
                bucket=self.write_bucket,
            )
        except KalshiNotFound:
            return None
        reduced = mapping(body, "cancel response").get("reduced_by")
        if reduced is None:
            reduced = mapping(body, "cancel response").get("reduced_by_fp")
        return self._parse(lambda r: parse_fp(r, "reduced_by"), reduced, "cancel")
