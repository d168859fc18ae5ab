"""Wire details checked against exchange-protocols.md and the official SDK3 models, through the
simulator over 127.0.0.1 where the client and the simulator meet."""

from __future__ import annotations

import asyncio

from marketdata.kalshi.account_wire import book_side_for
from marketdata.kalshi.rest import KalshiRestClient
from marketdata.kalshi.signing import KalshiSigner
from marketdata.kalshi.ws import KalshiWsClient
from marketdata.model.events import OwnFill, PublicTrade
from marketdata.ratelimit import Backoff
from marketdata.sim.wire import trade_rest, ws_trade
from marketdata.tests.kalshi_fixtures import Collector, until
from marketdata.tests.sim.order_helpers import call, quiet


def test_a_public_trade_names_the_book_side_the_taker_hit():
    """SDK3 BookSide: ``bid`` buys YES, ``ask`` sells YES; a NO taker sold YES."""
    for taker, book_side in (("yes", "bid"), ("no", "ask")):
        trade = PublicTrade(1_000, "KXBTC15M-X-00", 4200, 100, taker, "t")  # type: ignore[arg-type]
        for body in (trade_rest(trade), ws_trade(trade)):
            assert body["taker_outcome_side"] == taker
            assert body["taker_book_side"] == book_side


async def test_a_no_taker_trade_on_the_wire_says_ask(sim_exchange):
    sim = sim_exchange
    ticker = await quiet(sim, 5)
    bid = sim.exchange.state.book(ticker).best_yes_bid
    assert bid is not None
    body = {
        "ticker": ticker,
        "side": book_side_for("no", "buy"),
        "price": f"{bid / 10_000:.4f}",
        "count": "1.00",
        "time_in_force": "immediate_or_cancel",
        "client_order_id": "audit-no",
        "self_trade_prevention_type": "taker_at_cross",
    }
    status, created = await call(sim, "POST", "/portfolio/events/orders", body)
    assert status == 201, created
    status, listed = await call(sim, "GET", "/markets/trades", query={"ticker": ticker})
    ours = [t for t in listed["trades"] if t["taker_outcome_side"] == "no"]
    assert ours
    assert {t["taker_book_side"] for t in ours} == {"ask"}


async def test_rest_and_ws_date_the_same_fill_to_the_same_millisecond(sim_exchange):
    sim = sim_exchange
    signer = KalshiSigner.from_pem(sim.key_id, sim.private_key_pem)
    collector = Collector()
    ws = KalshiWsClient(
        sim.kalshi_ws_url,
        signer,
        collector,
        backoff=Backoff(base_s=0.05, cap_s=0.2, floor_s=0.01),
        market_channels=(),
        global_channels=(),
        account_channels=("fill",),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(ws.run(stop))
    try:
        await until(lambda: "fill" in ws._channel_sid)
        ticker = await quiet(sim, 5)  # stops at the last ms of a second: ts % 1000 == 999
        ask = sim.exchange.state.book(ticker).best_yes_ask
        assert ask is not None
        async with KalshiRestClient(sim.kalshi_api_url, signer) as rest:
            created = await rest.create_order(
                ticker=ticker,
                book_side="bid",
                yes_price=ask,
                count=100,
                time_in_force="immediate_or_cancel",
                client_order_id="audit-ts",
            )
            assert created.fill_count == 100
            await until(lambda: any(isinstance(e, OwnFill) for e in collector.events))
            rest_fills = await rest.list_fills(ticker=ticker)
        ws_fills = [e for e in collector.events if isinstance(e, OwnFill)]
        assert ws_fills[0].ts % 1000 != 0
        assert [(f.trade_id, f.ts) for f in rest_fills] == [(f.trade_id, f.ts) for f in ws_fills]
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_a_create_filling_several_levels_reads_its_six_decimal_average(sim_exchange):
    """The V2 answer's ``average_fill_price`` is off the price grid when the order walked
    several levels; it must read exactly, not turn the create into an ambiguous one."""
    sim = sim_exchange
    ticker = await quiet(sim, 5)
    (first, first_size), (second, _), *_ = sim.exchange.state.book(ticker).yes_asks(2)
    count = first_size + 100
    signer = KalshiSigner.from_pem(sim.key_id, sim.private_key_pem)
    async with KalshiRestClient(sim.kalshi_api_url, signer) as rest:
        created = await rest.create_order(
            ticker=ticker,
            book_side="bid",
            yes_price=second,
            count=count,
            time_in_force="immediate_or_cancel",
            client_order_id="audit-avg",
        )
        assert (rest.stats.malformed, rest.stats.ambiguous_creates) == (0, 0)
    assert not created.recovered
    assert created.fill_count == count
    exact = (first * first_size + second * 100) * 100 / count  # micro-dollars per contract
    assert created.average_fill_price is not None
    assert abs(created.average_fill_price - exact) <= 0.5


def test_a_non_finite_strike_is_malformed_not_a_price_to_beat():
    import json

    import pytest

    from marketdata.kalshi.wire import parse_market
    from marketdata.model.units import WireFormatError
    from marketdata.tests.kalshi_fixtures import market_json

    body = market_json("KXBTC15M-26JUL232045-45", "2026-07-24T00:30:00Z", "2026-07-24T00:45:00Z")
    for junk in ("NaN", "Infinity"):
        raw = json.dumps(body).replace("64839.26", junk)
        with pytest.raises(WireFormatError):
            parse_market(json.loads(raw))
    assert parse_market(body).strike == 64839.26


async def test_books_stay_right_when_kalshi_flips_the_use_yes_price_default():
    """Kalshi: ``use_yes_price`` defaults to false "and will flip to true" (protocols §2.3).
    With the flipped default a client that does not ask for false gets NO bids on the YES
    scale and files every NO level at the wrong price."""
    from marketdata.sim.testing import running_simulator
    from marketdata.tests.kalshi.test_ws_sim import active_ticker, exchange_levels, live_client

    async with running_simulator() as sim:
        sim.exchange.use_yes_price_default = True
        ticker = await active_ticker(sim)
        async with live_client(sim) as (client, collector):
            client.set_markets([ticker])
            await until(lambda: ticker in client.valid_books)
            for _ in range(3):
                await sim.advance(10)
                await until(lambda: collector.levels(ticker) == exchange_levels(sim, ticker))
            assert client.stats.malformed == 0


def test_the_simulator_honours_use_yes_price_on_snapshots_and_deltas():
    from marketdata.model.events import BookDelta
    from marketdata.sim.state import PublicState
    from marketdata.sim.wire import ws_delta, ws_snapshot

    state = PublicState()
    state.book("T").apply_snapshot([(4100, 100)], [(3000, 700)])
    assert ws_snapshot(state, "T")["no_dollars_fp"] == [["0.3000", "7.00"]]
    assert ws_snapshot(state, "T", yes_price=True)["no_dollars_fp"] == [["0.7000", "7.00"]]
    delta = BookDelta(1, "T", "no", 3000, -100)
    assert ws_delta(delta)["price_dollars"] == "0.3000"
    assert ws_delta(delta, yes_price=True)["price_dollars"] == "0.7000"
    yes_delta = BookDelta(1, "T", "yes", 4100, -100)
    assert ws_delta(yes_delta, yes_price=True)["price_dollars"] == "0.4100"


def test_the_book_subscribe_asks_for_own_side_prices_and_drops_the_ask_if_refused():
    import json

    from marketdata.tests.kalshi.test_ws_frames import sent
    from marketdata.tests.kalshi_fixtures import signer

    client = KalshiWsClient("ws://unused/trade-api/ws/v2", signer(), Collector())
    client.set_markets(["KXBTC15M-26JUL232045-45"])
    client._sync_markets()
    (subscribe,) = sent(client)
    assert subscribe["params"]["use_yes_price"] is False
    refusal = {"id": subscribe["id"], "type": "error", "msg": {"code": 11, "msg": "bad param"}}
    client.dispatch(json.dumps(refusal), recv_ts=1)
    client._sync_markets()
    (again,) = sent(client)
    assert again["cmd"] == "subscribe"
    assert "use_yes_price" not in again["params"]


async def test_the_signature_covers_the_path_as_sent_not_its_decoded_form(sim_exchange):
    """SDK3 signs ``urlparse(url).path``: the percent-encoded path on the wire."""
    import aiohttp
    from yarl import URL

    sim = sim_exchange
    raw = "/trade-api/v2/markets/KXBTC15M%20NOPE"
    url = URL(sim.base_url + raw, encoded=True)
    async with aiohttp.ClientSession() as http:
        as_sent = sim.sign("GET", raw)
        async with http.get(url, headers=as_sent) as response:
            assert response.status == 404  # verified, then an unknown market
        decoded = sim.sign("GET", "/trade-api/v2/markets/KXBTC15M NOPE")
        async with http.get(url, headers=decoded) as response:
            assert response.status == 401
