"""REST client behaviour against ``httpx.MockTransport``.

The order-create paths (lost answers, 429 on create, duplicate ``client_order_id``) are
tested here with a mock because the simulator's order endpoints arrive with issue #5; the
reads and signing are also tested against the simulator in ``test_kalshi_rest_sim.py``.
"""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from marketdata.kalshi.errors import (
    KalshiBadRequest,
    KalshiConflict,
    KalshiRateLimited,
    OrderOutcomeUnknown,
)
from marketdata.kalshi.rest import KalshiRestClient
from marketdata.ratelimit import TokenBucket
from marketdata.tests.kalshi_fixtures import market_json, rsa_key, signer

BASE = "http://exchange.test/trade-api/v2"


async def no_sleep(_: float) -> None:
    return None


def client(handler, **kwargs) -> KalshiRestClient:
    return KalshiRestClient(
        BASE, signer(), transport=httpx.MockTransport(handler), sleep=no_sleep, **kwargs
    )


ORDER = {
    "order_id": "o-1",
    "client_order_id": "c-1",
    "ticker": "KXBTC15M-26JUL232045-45",
    "outcome_side": "yes",
    "book_side": "bid",
    "status": "resting",
    "yes_price_dollars": "0.4200",
    "fill_count_fp": "0.00",
    "remaining_count_fp": "5.00",
    "initial_count_fp": "5.00",
    "created_time": "2026-07-24T00:31:00Z",
}
CREATED = {
    "order_id": "o-1",
    "client_order_id": "c-1",
    "fill_count": "0.00",
    "remaining_count": "5.00",
    "average_fill_price": "",
    "average_fee_paid": "",
    "ts_ms": 1,
}


async def create(rest: KalshiRestClient):
    return await rest.create_order(
        ticker="KXBTC15M-26JUL232045-45",
        book_side="bid",
        yes_price=4200,
        count=500,
        time_in_force="good_till_canceled",
        client_order_id="c-1",
    )


async def test_requests_are_signed_over_the_full_path_without_query():
    seen: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        seen["path"] = request.url.path
        return httpx.Response(200, json={"balance": 12345, "portfolio_value": 100})

    rest = client(handler)
    balance = await rest.get_balance()
    assert balance.balance == 12345 * 10_000  # cents → micro-dollars
    assert seen["path"] == "/trade-api/v2/portfolio/balance"
    message = f"{seen['kalshi-access-timestamp']}GET/trade-api/v2/portfolio/balance".encode()
    rsa_key().public_key().verify(
        base64.b64decode(seen["kalshi-access-signature"]),
        message,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
        hashes.SHA256(),
    )


async def test_markets_follow_the_cursor_until_it_is_empty():
    pages = {
        None: {
            "markets": [market_json("A-1", "2026-07-24T00:30:00Z", "2026-07-24T00:45:00Z")],
            "cursor": "p2",
        },
        "p2": {
            "markets": [
                market_json("A-2", "2026-07-24T00:45:00Z", "2026-07-24T01:00:00Z", "initialized")
            ],
            "cursor": "",
        },
    }
    queries = []

    def handler(request: httpx.Request) -> httpx.Response:
        queries.append(dict(request.url.params))
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    markets = await client(handler).list_markets(series_ticker="KXBTC15M", status="open")
    assert [m.ticker for m in markets] == ["A-1", "A-2"]
    assert queries[0] == {"series_ticker": "KXBTC15M", "status": "open", "limit": "1000"}
    assert markets[0].open_ts == 1784853000000
    assert markets[0].phase == "open"
    assert markets[1].phase == "listed"


async def test_a_429_on_a_read_is_retried_and_each_try_takes_tokens():
    answers = [
        httpx.Response(429, json={"error": "too many requests"}),
        httpx.Response(503, text="busy"),
        httpx.Response(200, json={"balance": 1}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    frozen = TokenBucket(200, 200, clock=lambda: 0.0)  # no refill: count what was taken
    rest = client(handler, read_bucket=frozen)
    assert (await rest.get_balance()).balance == 10_000
    assert rest.stats.retries == 2
    assert rest.stats.rate_limited == 1
    assert frozen.tokens == 200 - 3 * 10  # every try paid for its tokens


async def test_reads_give_up_with_the_typed_error_after_the_last_attempt():
    rest = client(
        lambda r: httpx.Response(429, json={"error": "too many requests"}), max_read_attempts=3
    )
    with pytest.raises(KalshiRateLimited) as caught:
        await rest.get_balance()
    assert caught.value.message == "too many requests"
    assert rest.stats.requests == 3


async def test_a_400_carries_the_exchange_code_and_message_and_is_not_retried():
    body = {"error": {"code": "invalid_price", "message": "invalid price", "service": "exchange"}}
    rest = client(lambda r: httpx.Response(400, json=body))
    with pytest.raises(KalshiBadRequest) as caught:
        await rest.get_market("X")
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        400,
        "invalid_price",
        "invalid price",
    )
    assert rest.stats.requests == 1


class OrderExchange:
    """A tiny exchange: records creates, can lose the answer to the first one."""

    def __init__(self, first: str = "ok") -> None:
        self.first = first
        self.orders: list[dict] = []
        self.posts = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posts += 1
            assert request.url.path == "/trade-api/v2/portfolio/events/orders"
            body = json.loads(request.content)
            mode = self.first if self.posts == 1 else "ok"
            if mode == "429":
                return httpx.Response(429, json={"error": "too many requests"})
            if any(o["client_order_id"] == body["client_order_id"] for o in self.orders):
                return httpx.Response(
                    409, json={"error": {"code": "order_already_exists", "message": "duplicate"}}
                )
            if mode == "lost_before":
                return httpx.Response(502, text="bad gateway")  # never reached the book
            self.orders.append({**ORDER, "client_order_id": body["client_order_id"]})
            if mode == "lost_after":
                raise httpx.ReadTimeout("answer lost", request=request)
            if mode == "500_after":
                return httpx.Response(500, text="oops")
            return httpx.Response(201, json=CREATED)
        assert request.url.path == "/trade-api/v2/portfolio/orders"
        return httpx.Response(200, json={"orders": self.orders, "cursor": ""})


async def test_create_sends_the_v2_body_with_exact_price_and_count():
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(201, json=CREATED)

    created = await create(client(handler))
    assert created.order_id == "o-1"
    assert created.remaining_count == 500
    assert bodies == [
        {
            "ticker": "KXBTC15M-26JUL232045-45",
            "client_order_id": "c-1",
            "side": "bid",
            "count": "5.00",
            "price": "0.4200",
            "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross",
        }
    ]


@pytest.mark.parametrize("mode", ["lost_after", "500_after"])
async def test_a_lost_create_answer_is_settled_by_lookup_not_by_resending(mode):
    exchange = OrderExchange(first=mode)
    rest = client(exchange)
    created = await create(rest)
    assert created.recovered
    assert created.order_id == "o-1"
    assert exchange.posts == 1
    assert len(exchange.orders) == 1
    assert rest.stats.ambiguous_creates == 1
    assert rest.stats.recovered_creates == 1


async def test_a_create_that_never_landed_is_resent_once_and_exists_exactly_once():
    exchange = OrderExchange(first="lost_before")
    rest = client(exchange)
    created = await create(rest)
    assert not created.recovered
    assert exchange.posts == 2
    assert len(exchange.orders) == 1


async def test_a_429_on_create_is_definitely_not_placed_and_is_retried():
    exchange = OrderExchange(first="429")
    rest = client(exchange)
    await create(rest)
    assert exchange.posts == 2
    assert len(exchange.orders) == 1
    assert rest.stats.rate_limited == 1
    assert rest.stats.ambiguous_creates == 0


async def test_a_duplicate_client_order_id_on_a_first_try_is_a_conflict():
    exchange = OrderExchange()
    exchange.orders.append(dict(ORDER))
    with pytest.raises(KalshiConflict) as caught:
        await create(client(exchange))
    assert caught.value.code == "order_already_exists"


async def test_an_outcome_that_stays_unknown_says_so():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(504, text="gateway timeout")
        return httpx.Response(503, text="down")

    rest = client(handler, max_write_attempts=2, max_read_attempts=1, lookup_attempts=1)
    with pytest.raises(OrderOutcomeUnknown):
        await create(rest)


async def test_malformed_rows_are_skipped_and_counted_never_guessed():
    rows = [
        market_json("A-1", "2026-07-24T00:30:00Z", "2026-07-24T00:45:00Z"),
        {
            **market_json("A-2", "2026-07-24T00:45:00Z", "2026-07-24T01:00:00Z"),
            "close_time": "soon",
        },
    ]
    rest = client(lambda r: httpx.Response(200, json={"markets": rows, "cursor": ""}))
    markets = await rest.list_markets(series_ticker="KXBTC15M")
    assert [m.ticker for m in markets] == ["A-1"]
    assert rest.stats.malformed == 1


async def test_portfolio_reads_parse_exactly():
    bodies = {
        "/trade-api/v2/portfolio/positions": {
            "market_positions": [
                {
                    "ticker": "T",
                    "position_fp": "-3.00",
                    "market_exposure_dollars": "1.740000",
                    "realized_pnl_dollars": "0.000000",
                    "fees_paid_dollars": "0.050000",
                }
            ],
            "event_positions": [],
            "cursor": "",
        },
        "/trade-api/v2/portfolio/fills": {
            "fills": [
                {
                    "fill_id": "f1",
                    "trade_id": "f1",
                    "order_id": "o-1",
                    "ticker": "T",
                    "outcome_side": "yes",
                    "book_side": "bid",
                    "count_fp": "1.50",
                    "yes_price_dollars": "0.0950",
                    "is_taker": False,
                    "fee_cost": "0.0000",
                    "created_time": "2026-07-24T00:31:00.5Z",
                    "ts": 1784853060,
                }
            ],
            "cursor": "",
        },
        "/trade-api/v2/portfolio/settlements": {
            "settlements": [
                {
                    "ticker": "T",
                    "market_result": "no",
                    "yes_count_fp": "0.00",
                    "no_count_fp": "3.00",
                    "revenue": 300,
                    "fee_cost": "0.0500",
                    "settled_time": "2026-07-24T00:45:06.036714Z",
                }
            ],
            "cursor": "",
        },
        "/trade-api/v2/portfolio/orders/o-1": {"order": ORDER},
        "/trade-api/v2/portfolio/events/orders/o-1": {"order_id": "o-1", "reduced_by": "5.00"},
        "/trade-api/v2/portfolio/events/orders/o-2": None,
    }

    def handler(request: httpx.Request) -> httpx.Response:
        body = bodies[request.url.path]
        if body is None:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "gone"}})
        return httpx.Response(200, json=body)

    rest = client(handler)
    (position,) = await rest.list_positions()
    assert (position.position, position.market_exposure, position.fees_paid) == (
        -300,
        1_740_000,
        50_000,
    )
    (fill,) = await rest.list_fills(ticker="T")
    # created_time's sub-second part, not the legacy whole-second ``ts``.
    assert (fill.ts, fill.side, fill.action, fill.yes_price, fill.count, fill.fee) == (
        1_784_853_060_500,
        "yes",
        "buy",
        950,
        150,
        0,
    )
    (settlement,) = await rest.list_settlements()
    assert (settlement.result, settlement.no_count, settlement.revenue) == ("no", 300, 3_000_000)
    order = await rest.get_order("o-1")
    assert (order.status, order.yes_price, order.remaining_count, order.side) == (
        "resting",
        4200,
        500,
        "yes",
    )
    assert await rest.cancel_order("o-1", ticker="T") == 500
    assert await rest.cancel_order("o-2", ticker="T") is None  # already terminal or unknown
    assert rest.stats.malformed == 0


async def test_a_create_that_could_not_connect_is_retried_as_not_placed():
    exchange = OrderExchange()
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("refused", request=request)
        return exchange(request)

    rest = client(handler)
    created = await create(rest)
    assert not created.recovered
    assert exchange.posts == 1
    assert rest.stats.ambiguous_creates == 0


@pytest.mark.parametrize("ts_ms", ["1784853060500", 1784853060500.0, True])
def test_a_create_answer_with_a_non_integer_ts_ms_is_malformed_not_coerced(ts_ms):
    from marketdata.kalshi.account_wire import parse_created_order
    from marketdata.model.units import WireFormatError

    with pytest.raises(WireFormatError):
        parse_created_order({**CREATED, "ts_ms": ts_ms})
    assert parse_created_order({**CREATED, "ts_ms": 1784853060500}).ts == 1784853060500
