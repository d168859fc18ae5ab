"""Kalshi side of the simulator over real sockets on 127.0.0.1."""

import aiohttp
import pytest

from marketdata.model.book import OrderBook
from marketdata.model.ticks import is_on_grid
from marketdata.model.units import parse_dollars
from marketdata.tests.sim.frames import apply_frame, drain, frames_until, rest_book

WS_PATH = "/trade-api/ws/v2"


async def open_market(http, sim):
    async with http.get(
        f"{sim.kalshi_api_url}/markets", params={"series_ticker": "KXBTC15M", "status": "open"}
    ) as r:
        assert r.status == 200
        markets = (await r.json())["markets"]
    assert len(markets) == 1
    return markets[0]


async def kalshi_ws(http, sim):
    return await http.ws_connect(sim.kalshi_ws_url, headers=sim.sign("GET", WS_PATH))


async def test_markets_list_one_open_window_and_listed_future_ones(sim_exchange):
    sim = sim_exchange
    async with aiohttp.ClientSession() as http:
        market = await open_market(http, sim)
        assert market["ticker"] == "KXBTC15M-24DEC311915-15"  # closes 19:15 EST = 00:15Z
        assert market["event_ticker"] == "KXBTC15M-24DEC311915"
        assert market["status"] == "active"
        assert market["open_time"] == "2025-01-01T00:00:00Z"
        assert market["close_time"] == "2025-01-01T00:15:00Z"
        assert isinstance(market["floor_strike"], float)
        assert market["price_level_structure"] == "tapered_deci_cent"
        assert market["result"] == ""
        async with http.get(f"{sim.kalshi_api_url}/markets", params={"status": "unopened"}) as r:
            listed = (await r.json())["markets"]
        assert listed
        assert all(m["status"] == "initialized" and m["floor_strike"] is None for m in listed)
        async with http.get(f"{sim.kalshi_api_url}/markets", params={"status": "active"}) as r:
            assert r.status == 400  # field vocabulary is not the filter vocabulary
        async with http.get(f"{sim.kalshi_api_url}/markets", params={"limit": 2}) as r:
            page = await r.json()
        assert len(page["markets"]) == 2
        assert page["cursor"]
        async with http.get(
            f"{sim.kalshi_api_url}/markets", params={"limit": 2, "cursor": page["cursor"]}
        ) as r:
            second = await r.json()
        assert {m["ticker"] for m in second["markets"]}.isdisjoint(
            m["ticker"] for m in page["markets"]
        )


async def test_market_and_orderbook_and_series_reads(sim_exchange):
    sim = sim_exchange
    async with aiohttp.ClientSession() as http:
        market = await open_market(http, sim)
        ticker = market["ticker"]
        async with http.get(f"{sim.kalshi_api_url}/markets/{ticker}") as r:
            assert (await r.json())["market"]["ticker"] == ticker
        async with http.get(f"{sim.kalshi_api_url}/markets/KXBTC15M-99JAN010000-00") as r:
            assert r.status == 404
            assert (await r.json())["error"]["code"] == "not_found"
        async with http.get(f"{sim.kalshi_api_url}/markets/{ticker}/orderbook") as r:
            body = await r.json()
        book = rest_book(ticker, body)
        levels = body["orderbook_fp"]["yes_dollars"]
        prices = [parse_dollars(p) for p, _ in levels]
        assert prices == sorted(prices)  # ascending, best last
        assert all(is_on_grid(p) for p in prices)
        assert book.best_yes_bid is not None
        assert book.best_yes_ask is not None
        assert book.best_yes_bid < book.best_yes_ask
        assert parse_dollars(market["yes_bid_dollars"]) == book.best_yes_bid
        assert parse_dollars(market["yes_ask_dollars"]) == book.best_yes_ask
        async with http.get(
            f"{sim.kalshi_api_url}/markets/{ticker}/orderbook", params={"depth": 2}
        ) as r:
            top = (await r.json())["orderbook_fp"]
        assert top["yes_dollars"] == levels[-2:]
        async with http.get(f"{sim.kalshi_api_url}/series/KXBTC15M") as r:
            series = (await r.json())["series"]
        assert series["fee_type"] == "quadratic"
        assert series["fee_multiplier"] == 1
        async with http.get(f"{sim.kalshi_api_url}/series/KXBTC") as r:
            assert r.status == 404


async def test_public_trades_appear_after_time_passes(sim_exchange):
    sim = sim_exchange
    async with aiohttp.ClientSession() as http:
        ticker = (await open_market(http, sim))["ticker"]
        async with http.get(f"{sim.kalshi_api_url}/markets/trades", params={"ticker": ticker}) as r:
            assert (await r.json())["trades"] == []
        await sim.advance(120)
        async with http.get(
            f"{sim.kalshi_api_url}/markets/trades", params={"ticker": ticker, "limit": 5}
        ) as r:
            trades = (await r.json())["trades"]
        assert trades
        stamps = [t["created_time"] for t in trades]
        assert stamps == sorted(stamps, reverse=True)
        trade = trades[0]
        assert (
            parse_dollars(trade["yes_price_dollars"]) + parse_dollars(trade["no_price_dollars"])
            == 10_000
        )
        assert trade["taker_outcome_side"] in ("yes", "no")
        async with http.get(f"{sim.kalshi_api_url}/markets/{ticker}") as r:
            market = (await r.json())["market"]
        assert market["volume_fp"] != "0.00"


async def test_ws_snapshot_then_dense_deltas_rebuild_the_rest_book(sim_exchange):
    sim = sim_exchange
    async with aiohttp.ClientSession() as http:
        ticker = (await open_market(http, sim))["ticker"]
        ws = await kalshi_ws(http, sim)
        await ws.send_json(
            {
                "id": 1,
                "cmd": "subscribe",
                "params": {"channels": ["orderbook_delta"], "market_ticker": ticker},
            }
        )
        first = await frames_until(ws, lambda f: f["type"] == "orderbook_snapshot")
        assert first[0] == {
            "id": 1,
            "type": "subscribed",
            "msg": {"channel": "orderbook_delta", "sid": 1},
        }
        snapshot = first[-1]
        assert (snapshot["sid"], snapshot["seq"]) == (1, 1)
        book = OrderBook(ticker)
        apply_frame(book, snapshot)
        await sim.advance(30)
        frames = await drain(ws)
        assert frames
        assert [f["seq"] for f in frames] == list(range(2, 2 + len(frames)))
        for frame in frames:
            assert frame["type"] == "orderbook_delta"
            assert isinstance(frame["msg"]["ts_ms"], int)
            apply_frame(book, frame)
        async with http.get(f"{sim.kalshi_api_url}/markets/{ticker}/orderbook") as r:
            truth = rest_book(ticker, await r.json())
        assert book.snapshot_levels() == truth.snapshot_levels()
        await ws.close()


async def test_ws_ticker_and_trade_channels(sim_exchange):
    sim = sim_exchange
    async with aiohttp.ClientSession() as http:
        ticker = (await open_market(http, sim))["ticker"]
        ws = await kalshi_ws(http, sim)
        await ws.send_json(
            {
                "id": 1,
                "cmd": "subscribe",
                "params": {"channels": ["ticker", "trade"], "market_tickers": [ticker]},
            }
        )
        acks = await frames_until(ws, lambda f: f.get("msg", {}).get("channel") == "trade")
        sids = {f["msg"]["channel"]: f["msg"]["sid"] for f in acks}
        await sim.advance(120)
        frames = await drain(ws)
        tickers = [f for f in frames if f["type"] == "ticker"]
        trades = [f for f in frames if f["type"] == "trade"]
        assert tickers
        assert trades
        assert all("seq" not in f and f["sid"] == sids["ticker"] for f in tickers)
        assert [f["seq"] for f in trades] == list(range(1, len(trades) + 1))
        msg = tickers[-1]["msg"]
        assert parse_dollars(msg["yes_bid_dollars"]) < parse_dollars(msg["yes_ask_dollars"])
        assert trades[0]["msg"]["market_ticker"] == ticker
        assert trades[0]["msg"]["taker_outcome_side"] in ("yes", "no")
        await ws.close()


async def test_lifecycle_steps_match_rest_status_at_the_same_moments(sim_exchange):
    sim = sim_exchange  # starts 00:07:00; the open window closes at 00:15:00
    async with aiohttp.ClientSession() as http:
        ticker = (await open_market(http, sim))["ticker"]
        ws = await kalshi_ws(http, sim)
        await ws.send_json(
            {"id": 1, "cmd": "subscribe", "params": {"channels": ["market_lifecycle_v2"]}}
        )
        await frames_until(ws, lambda f: f["type"] == "subscribed")

        async def status_of(t):
            async with http.get(f"{sim.kalshi_api_url}/markets/{t}") as r:
                return (await r.json())["market"]

        await sim.advance(479)  # 00:14:59
        assert (await status_of(ticker))["status"] == "active"
        assert await drain(ws) == []
        await sim.advance(1)  # 00:15:00
        events = [f["msg"] for f in await drain(ws)]
        kinds = {(m["market_ticker"], m["event_type"]) for m in events}
        assert (ticker, "close_date_updated") in kinds
        nxt = next(m for m in events if m["event_type"] == "activated")["market_ticker"]
        assert (nxt, "metadata_updated") in kinds
        assert any(m["event_type"] == "created" for m in events)  # the window an hour ahead
        created = next(m for m in events if m["event_type"] == "created")
        assert (await status_of(created["market_ticker"]))["status"] == "initialized"
        closed = await status_of(ticker)
        assert (closed["status"], closed["result"]) == ("closed", "")
        assert (await status_of(nxt))["status"] == "active"
        await sim.advance(2)  # 00:15:02
        determined = [f["msg"] for f in await drain(ws)]
        assert [m["event_type"] for m in determined] == ["determined"]
        rest = await status_of(ticker)
        assert rest["status"] == "determined"
        assert rest["result"] == determined[0]["result"] in ("yes", "no")
        expected = "yes" if float(rest["expiration_value"]) >= rest["floor_strike"] else "no"
        assert rest["result"] == expected
        await sim.advance(4)  # 00:15:06
        settled = [f["msg"] for f in await drain(ws)]
        assert [m["event_type"] for m in settled] == ["settled"]
        assert (await status_of(ticker))["status"] == "finalized"
        async with http.get(
            f"{sim.kalshi_api_url}/markets", params={"status": "settled", "limit": 1000}
        ) as r:
            assert ticker in {m["ticker"] for m in (await r.json())["markets"]}
        await ws.close()


async def test_update_subscription_and_unsubscribe(sim_exchange):
    sim = sim_exchange
    async with aiohttp.ClientSession() as http:
        ticker = (await open_market(http, sim))["ticker"]
        async with http.get(f"{sim.kalshi_api_url}/markets", params={"status": "unopened"}) as r:
            later = (await r.json())["markets"][0]["ticker"]
        ws = await kalshi_ws(http, sim)
        await ws.send_json(
            {
                "id": 1,
                "cmd": "subscribe",
                "params": {"channels": ["orderbook_delta"], "market_tickers": [ticker]},
            }
        )
        await frames_until(ws, lambda f: f["type"] == "orderbook_snapshot")
        await ws.send_json(
            {
                "id": 2,
                "cmd": "update_subscription",
                "params": {"sids": [1], "market_tickers": [later], "action": "add_markets"},
            }
        )
        got = await frames_until(ws, lambda f: f["type"] == "orderbook_snapshot")
        assert got[0] == {
            "id": 2,
            "sid": 1,
            "seq": 2,
            "type": "ok",
            "msg": {"market_tickers": sorted([ticker, later])},
        }
        assert got[-1]["seq"] == 3
        assert "yes_dollars_fp" not in got[-1]["msg"]  # an unopened market has no bids
        await ws.send_json(
            {
                "id": 3,
                "cmd": "update_subscription",
                "params": {"sid": 1, "market_tickers": [ticker], "action": "get_snapshot"},
            }
        )
        again = await frames_until(ws, lambda f: f["type"] == "orderbook_snapshot")
        assert [f["seq"] for f in again] == [4, 5]
        assert again[-1]["msg"]["market_ticker"] == ticker
        await ws.send_json(
            {
                "id": 4,
                "cmd": "update_subscription",
                "params": {"sids": [1], "market_tickers": [later], "action": "delete_markets"},
            }
        )
        deleted = await frames_until(ws, lambda f: f.get("id") == 4)
        assert deleted[-1]["msg"]["market_tickers"] == [ticker]
        await ws.send_json({"id": 5, "cmd": "list_subscriptions"})
        listing = await frames_until(ws, lambda f: f.get("id") == 5)
        assert listing[-1]["msg"] == [{"channel": "orderbook_delta", "sid": 1}]
        await ws.send_json({"id": 6, "cmd": "unsubscribe", "params": {"sids": [1]}})
        gone = await frames_until(ws, lambda f: f.get("id") == 6)
        assert gone[-1]["type"] == "unsubscribed"
        await sim.advance(20)
        assert await drain(ws) == []
        await ws.close()


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ({"id": 1, "cmd": "nope", "params": {}}, 5),
        ({"id": 1, "cmd": "subscribe"}, 2),
        ({"id": 1, "cmd": "subscribe", "params": {"channels": []}}, 3),
        ({"id": 1, "cmd": "subscribe", "params": {"channels": ["bogus"]}}, 8),
        ({"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}}, 14),
        (
            {
                "id": 1,
                "cmd": "subscribe",
                "params": {"channels": ["trade"], "market_tickers": ["KXBTC15M-99JAN010000-00"]},
            },
            16,
        ),
        ({"id": 1, "cmd": "unsubscribe", "params": {"sids": [42]}}, 7),
        (
            {
                "id": 1,
                "cmd": "update_subscription",
                "params": {"sids": [1, 2], "action": "add_markets"},
            },
            12,
        ),
    ],
)
async def test_ws_command_errors_carry_kalshi_codes(sim_exchange, command, code):
    sim = sim_exchange
    async with aiohttp.ClientSession() as http:
        ws = await kalshi_ws(http, sim)
        await ws.send_json(command)
        frame = (await frames_until(ws, lambda f: True))[0]
        assert frame["type"] == "error"
        assert frame["msg"]["code"] == code
        await ws.close()


async def test_protocol_pings_carry_heartbeat():
    from marketdata.sim.testing import running_simulator

    async with running_simulator(ping_interval_s=0.2) as sim, aiohttp.ClientSession() as http:
        ws = await http.ws_connect(
            sim.kalshi_ws_url, headers=sim.sign("GET", WS_PATH), autoping=False
        )
        message = await ws.receive(timeout=2)
        assert message.type == aiohttp.WSMsgType.PING
        assert message.data == b"heartbeat"
        await ws.pong(message.data)
        await ws.close()
