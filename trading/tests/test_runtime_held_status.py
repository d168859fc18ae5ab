"""``HeldContractWatch`` against the simulator's Kalshi REST over a socket (stepped clock):
a held contract's result is found by asking, injected once as a market-status event, never
assumed while the market is closed without one; a hold that cannot be resolved becomes a
trouble on the panel and in ``/healthz``."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from marketdata.kalshi.rest import KalshiRestClient
from marketdata.model.events import MarketStatus
from marketdata.sim.testing import SimHandle, sim_exchange
from trading.engine.records import PositionClosed, PositionOpened
from trading.runtime.held_status import HeldContractWatch

__all__ = ["sim_exchange"]  # the fixture, imported for these tests

ZERO = {"int": 0, "str": "", "float": 0.0, "float | None": None, "bool": False}


def record(cls: type[Any], **given: Any) -> Any:
    """An engine record with the fields a test cares about (the rest zero)."""
    values = {f.name: ZERO.get(str(f.type)) for f in dataclasses.fields(cls)}
    return cls(**{**values, **given})


def opened(ticker: str, ts: int, uid: str = "paper-1") -> PositionOpened:
    return record(PositionOpened, ts=ts, lane="paper", position_uid=uid, ticker=ticker)


def closed(ticker: str, ts: int, uid: str = "paper-1") -> PositionClosed:
    return record(PositionClosed, ts=ts, lane="paper", position_uid=uid, ticker=ticker)


@pytest_asyncio.fixture
async def rest(sim_exchange: SimHandle) -> AsyncIterator[KalshiRestClient]:
    client = KalshiRestClient(sim_exchange.kalshi_api_url, None, max_read_attempts=1)
    yield client
    await client.aclose()


async def open_market(rest: KalshiRestClient, now: int) -> tuple[str, int]:
    markets = await rest.list_markets(series_ticker="KXBTC15M", status="open")
    market = next(m for m in markets if m.contains(now))
    return market.ticker, market.close_ts


async def test_a_held_contracts_result_is_found_by_asking_and_injected_once(
    sim_exchange: SimHandle, rest: KalshiRestClient
) -> None:
    injected: list[MarketStatus] = []
    watch = HeldContractWatch(rest, injected.append)
    ticker, close_ts = await open_market(rest, sim_exchange.now())
    watch.consume([opened(ticker, sim_exchange.now())], sim_exchange.now())

    assert await watch.check() == []  # open: nothing to find
    assert watch.holds[ticker].close_ts == close_ts
    assert watch.due() == []  # before its close, a hold is not asked for again

    await sim_exchange.advance((close_ts - sim_exchange.now()) / 1000 + 1)  # closed, no result
    watch.consume([], sim_exchange.now())
    assert watch.due() == [ticker]
    assert await watch.check() == []  # closed without a result: retried, never assumed
    assert watch.holds[ticker].last_answer == "closed"

    await sim_exchange.advance(10)  # determined, then finalized
    watch.consume([], sim_exchange.now())
    [found] = await watch.check()
    assert (found.ticker, found.status, found.ts) == (ticker, "finalized", sim_exchange.now())
    assert found.result in ("yes", "no")
    assert found.close_ts == close_ts
    assert injected == [found]

    assert await watch.check() == []  # the same phase is not injected twice
    watch.consume([closed(ticker, sim_exchange.now())], sim_exchange.now())
    assert watch.holds == {}
    assert watch.due() == []
    assert watch.health()["injected"] == 1


async def test_a_contract_finalized_while_the_trader_was_down_settles_at_the_first_pass(
    sim_exchange: SimHandle, rest: KalshiRestClient
) -> None:
    ticker, close_ts = await open_market(rest, sim_exchange.now())
    entry_ts = sim_exchange.now()
    await sim_exchange.advance((close_ts - sim_exchange.now()) / 1000 + 60)  # the trader is down

    injected: list[MarketStatus] = []
    watch = HeldContractWatch(rest, injected.append)  # the restarted trader's
    watch.consume([], sim_exchange.now())
    watch.hold(ticker, "paper-1", since_ts=entry_ts)  # restored with the engine's state
    await watch.check()
    assert [(e.ticker, e.status) for e in injected] == [(ticker, "finalized")]


async def test_a_reconnect_asks_again_for_a_hold_before_its_close(
    sim_exchange: SimHandle, rest: KalshiRestClient
) -> None:
    watch = HeldContractWatch(rest, lambda event: None)
    ticker, _ = await open_market(rest, sim_exchange.now())
    watch.consume([opened(ticker, sim_exchange.now())], sim_exchange.now())
    await watch.check()
    assert watch.due() == []
    watch.check_soon()
    assert watch.due() == [ticker]
    await watch.check()
    assert watch.holds[ticker].lookups == 2


async def test_a_hold_the_exchange_cannot_resolve_is_retried_and_becomes_stuck(
    sim_exchange: SimHandle, rest: KalshiRestClient
) -> None:
    watch = HeldContractWatch(rest, lambda event: None, stuck_after_s=120)
    ticker, close_ts = await open_market(rest, sim_exchange.now())
    watch.consume([opened(ticker, sim_exchange.now())], sim_exchange.now())
    await watch.check()
    sim_exchange.set_faults(rest_5xx=1.0)  # the exchange answers nothing useful from here on

    await sim_exchange.advance((close_ts - sim_exchange.now()) / 1000 + 60)
    watch.consume([], sim_exchange.now())
    assert await watch.check() == []
    assert watch.stuck() == []  # a minute past its close: not yet

    await sim_exchange.advance(120)
    watch.consume([], sim_exchange.now())
    assert await watch.check() == []
    [stuck] = watch.health()["stuck"]
    assert stuck["ticker"] == ticker
    assert stuck["minutes_past_close"] == 3
    assert stuck["last_answer"].startswith("error:")
    assert watch.health()["lookup_errors"] == 2


async def test_an_unknown_market_is_retried_and_stuck_once_its_window_must_have_closed(
    sim_exchange: SimHandle, rest: KalshiRestClient
) -> None:
    watch = HeldContractWatch(rest, lambda event: None, stuck_after_s=60, contract_life_s=900)
    start = sim_exchange.now()
    watch.consume([opened("KXBTC15M-99JAN010000-00", start)], start)
    await watch.check()
    assert watch.holds["KXBTC15M-99JAN010000-00"].last_answer == "not found"
    watch.consume([], start + 961_000)
    assert [h.ticker for h in watch.stuck()] == ["KXBTC15M-99JAN010000-00"]


async def test_run_asks_at_once_for_a_new_hold_and_stops_on_request(
    sim_exchange: SimHandle, rest: KalshiRestClient
) -> None:
    watch = HeldContractWatch(rest, lambda event: None, poll_s=60)
    stop = asyncio.Event()
    runner = asyncio.create_task(watch.run(stop))
    ticker, _ = await open_market(rest, sim_exchange.now())
    watch.consume([opened(ticker, sim_exchange.now())], sim_exchange.now())
    for _ in range(200):
        if watch.holds[ticker].lookups:  # answered
            break
        await asyncio.sleep(0.01)
    assert watch.holds[ticker].last_answer == "open"
    stop.set()
    await asyncio.wait_for(runner, 5)


@pytest.mark.django_db
def test_a_stuck_hold_is_red_on_the_panel() -> None:
    from trading import dashboard

    payload = {
        "ts": 0,
        "feeds": [],
        "db": "ok",
        "redis": "ok",
        "event_errors": 0,
        "orders_unfilled": {},
        "params_error": "",
        "held_contracts": {
            "held": ["KXBTC15M-25JAN010015-15"],
            "stuck": [
                {
                    "ticker": "KXBTC15M-25JAN010015-15",
                    "minutes_past_close": 12,
                    "lookups": 9,
                    "last_answer": "closed",
                }
            ],
            "lookups": 9,
            "lookup_errors": 0,
            "injected": 0,
        },
    }
    html = dashboard.render_topic("health", payload, can_control=False)[0]
    assert (
        '<li class="trouble bad"><strong>Stuck hold:</strong> KXBTC15M-25JAN010015-15 held 12 min'
        " past its close without a result (asked 9 times; last answer: closed)</li>" in html
    )
