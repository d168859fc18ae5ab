"""Coinbase WS, Binance klines, /sim controls, faults and determinism over real sockets."""

import asyncio
import hashlib
import itertools
import json

import aiohttp
import pytest

from marketdata.sim.prices import second_prices
from marketdata.sim.testing import running_simulator
from marketdata.tests.sim.frames import drain, frames_until

WS_PATH = "/trade-api/ws/v2"


async def coinbase(http, sim, *channels):
    ws = await http.ws_connect(sim.coinbase_ws_url)
    for channel in channels:
        message = {"type": "subscribe", "channel": channel}
        if channel != "heartbeats":
            message["product_ids"] = ["BTC-USD"]
        await ws.send_json(message)
        await frames_until(ws, lambda f: f.get("channel") == "subscriptions")
    return ws


async def test_coinbase_ticker_trades_and_heartbeats_carry_sim_time(sim_exchange):
    sim = sim_exchange
    async with aiohttp.ClientSession() as http:
        ws = await coinbase(http, sim, "ticker", "market_trades", "heartbeats")
        await drain(ws, 0.2)
        await sim.advance(5)
        frames = await drain(ws, 0.3)
        by_channel: dict[str, list[dict]] = {}
        for frame in frames:
            by_channel.setdefault(frame["channel"], []).append(frame)
        assert len(by_channel["ticker"]) >= 5
        assert len(by_channel["market_trades"]) >= 5
        beats = [f["events"][0] for f in by_channel["heartbeats"]]
        assert any(b["current_time"].startswith("2025-01-01 00:07:0") for b in beats)
        numbers = [f["sequence_num"] for f in frames]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        tick = by_channel["ticker"][-1]["events"][0]["tickers"][0]
        assert tick["product_id"] == "BTC-USD"
        assert float(tick["best_bid"]) <= float(tick["price"]) <= float(tick["best_ask"])
        trade = by_channel["market_trades"][0]["events"][0]["trades"][0]
        assert trade["side"] in ("BUY", "SELL")
        await ws.close()


async def test_coinbase_wall_heartbeats_keep_a_stepped_stream_alive(sim_exchange):
    sim = sim_exchange
    async with aiohttp.ClientSession() as http:
        ws = await coinbase(http, sim, "heartbeats")
        frame = (await frames_until(ws, lambda f: f["channel"] == "heartbeats", read_timeout=3))[-1]
        assert frame["timestamp"].startswith("2025-01-01T00:07:00")  # time stands still
        await ws.close()


async def test_coinbase_rejects_unknown_channels(sim_exchange):
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(sim_exchange.coinbase_ws_url)
        await ws.send_json({"type": "subscribe", "channel": "level3", "product_ids": ["BTC-USD"]})
        assert (await frames_until(ws, lambda f: True))[0]["type"] == "error"
        await ws.close()


async def test_binance_klines_match_the_path_and_never_show_the_future(sim_exchange):
    sim = sim_exchange
    url = sim.binance_api_url + "/api/v3/klines"
    async with aiohttp.ClientSession() as http:
        async with http.get(url, params={"symbol": "BTCUSDT", "interval": "1m", "limit": 10}) as r:
            rows = await r.json()
        assert len(rows) == 10
        now = sim.now()
        assert rows[-1][0] <= now < rows[-1][6] + 1  # the open bar is the last one
        bar = sim.exchange.core.path.history.bar(rows[-2][0])
        assert [float(x) for x in rows[-2][1:5]] == [bar.open, bar.high, bar.low, bar.close]
        prints = second_prices(sim.exchange.seed, sim.exchange.core.path.history.bar(rows[-1][0]))
        assert float(rows[-1][1]) == prints[0]
        async with http.get(
            url, params={"symbol": "BTCUSDT", "interval": "15m", "startTime": now + 3_600_000}
        ) as r:
            assert await r.json() == []
        async with http.get(url, params={"symbol": "ETHUSDT", "interval": "1m"}) as r:
            assert r.status == 400
            assert (await r.json())["code"] == -1121
        async with http.get(url, params={"symbol": "BTCUSDT", "interval": "7m"}) as r:
            assert (await r.json())["code"] == -1120
        start = rows[0][0]
        async with http.get(
            url, params={"symbol": "BTCUSDT", "interval": "5m", "startTime": start, "limit": 2}
        ) as r:
            five = await r.json()
        assert five[1][0] - five[0][0] == 300_000


async def test_clock_and_fault_controls(sim_exchange):
    sim = sim_exchange
    async with aiohttp.ClientSession() as http:
        async with http.get(sim.base_url + "/sim/clock") as r:
            clock = await r.json()
        assert clock["mode"] == "stepped"
        assert clock["now"] == "2025-01-01T00:07:00Z"
        async with http.post(sim.base_url + "/sim/clock", json={"advance_s": 60}) as r:
            assert (await r.json())["now_ms"] == clock["now_ms"] + 60_000
        async with http.post(sim.base_url + "/sim/faults", json={"rest_429": 1.0}) as r:
            assert (await r.json())["rest_429"] == 1.0
        async with http.get(sim.kalshi_api_url + "/markets") as r:
            assert r.status == 429
            assert await r.json() == {"error": "too many requests"}
        async with http.post(
            sim.base_url + "/sim/faults", json={"rest_429": 0, "rest_5xx": 1.0}
        ) as r:
            assert r.status == 200
        async with http.get(sim.binance_api_url + "/api/v3/klines?symbol=BTCUSDT&interval=1m") as r:
            assert r.status in (500, 502, 503)
        async with http.post(
            sim.base_url + "/sim/faults",
            json={"rest_5xx": 0, "rest_slow": 1.0, "rest_slow_ms": 300},
        ) as r:
            assert r.status == 200
        loop = asyncio.get_running_loop()
        began = loop.time()
        async with http.get(sim.kalshi_api_url + "/markets") as r:
            assert r.status == 200
        assert loop.time() - began >= 0.3
        sim.set_faults(rest_slow=0.0, rest_timeout=1.0, rest_timeout_s=5.0)
        with pytest.raises(TimeoutError):
            async with http.get(
                sim.kalshi_api_url + "/markets", timeout=aiohttp.ClientTimeout(total=0.5)
            ):
                pass
        async with http.post(sim.base_url + "/sim/faults", json={"nonsense": 1}) as r:
            assert r.status == 400
        async with http.post(sim.base_url + "/sim/faults", json={"ws_drop": 2}) as r:
            assert r.status == 400


async def _book_frames(sim, http, seconds=20):
    async with http.get(sim.kalshi_api_url + "/markets", params={"status": "open"}) as r:
        ticker = (await r.json())["markets"][0]["ticker"]
    ws = await http.ws_connect(sim.kalshi_ws_url, headers=sim.sign("GET", WS_PATH))
    await ws.send_json(
        {
            "id": 1,
            "cmd": "subscribe",
            "params": {"channels": ["orderbook_delta"], "market_ticker": ticker},
        }
    )
    await frames_until(ws, lambda f: f["type"] == "orderbook_snapshot")
    return ws


async def test_ws_faults_skip_repeat_malformed_and_drop():
    async with running_simulator(seed=3) as sim, aiohttp.ClientSession() as http:
        ws = await _book_frames(sim, http)
        sim.set_faults(seq_skip=0.3)
        await sim.advance(20)
        seqs = [f["seq"] for f in await drain(ws)]
        assert any(b - a > 1 for a, b in itertools.pairwise(seqs))
        sim.set_faults(seq_skip=0.0, seq_repeat=0.3)
        await sim.advance(20)
        seqs = [f["seq"] for f in await drain(ws)]
        assert any(b == a for a, b in itertools.pairwise(seqs))
        sim.set_faults(seq_repeat=0.0, malformed=0.5)
        await sim.advance(10)
        texts = []
        while True:
            try:
                texts.append((await ws.receive(timeout=0.3)).data)
            except TimeoutError:
                break
        bad = 0
        for text in texts:
            try:
                json.loads(text)
            except ValueError:
                bad += 1
        assert bad > 0
        sim.set_faults(malformed=0.0, ws_drop=1.0)
        await sim.advance(5)
        message = await ws.receive(timeout=2)
        while message.type == aiohttp.WSMsgType.TEXT:
            message = await ws.receive(timeout=2)
        assert message.type in (
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.ERROR,
            aiohttp.WSMsgType.CLOSE,
        )


async def test_ws_reorder_and_delay():
    async with running_simulator(seed=3) as sim, aiohttp.ClientSession() as http:
        ws = await _book_frames(sim, http)
        sim.set_faults(reorder=0.3, ws_delay_ms=5)
        await sim.advance(20)
        seqs = [f["seq"] for f in await drain(ws, 0.5)]
        assert sorted(seqs) == list(range(2, 2 + len(seqs)))  # nothing lost
        assert seqs != sorted(seqs)  # but not in order


async def _frame_hashes(seed):
    digest = hashlib.sha256()
    async with running_simulator(seed=seed) as sim, aiohttp.ClientSession() as http:
        ws = await http.ws_connect(sim.kalshi_ws_url, headers=sim.sign("GET", WS_PATH))
        async with http.get(sim.kalshi_api_url + "/markets", params={"status": "open"}) as r:
            ticker = (await r.json())["markets"][0]["ticker"]
        await ws.send_json(
            {
                "id": 1,
                "cmd": "subscribe",
                "params": {
                    "channels": ["orderbook_delta", "ticker", "trade"],
                    "market_ticker": ticker,
                },
            }
        )
        await ws.send_json(
            {"id": 2, "cmd": "subscribe", "params": {"channels": ["market_lifecycle_v2"]}}
        )
        await frames_until(ws, lambda f: f.get("id") == 2)
        count = 0
        for _ in range(10):
            await sim.advance(60)
            for frame in await drain(ws, 0.3):
                digest.update(json.dumps(frame, sort_keys=True).encode())
                count += 1
        await ws.close()
    return digest.hexdigest(), count


async def test_two_runs_with_the_same_seed_send_identical_frames():
    first, second = await _frame_hashes(9), await _frame_hashes(9)
    assert first == second
    assert first[1] > 1000
    assert (await _frame_hashes(10))[0] != first[0]
