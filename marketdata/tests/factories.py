"""Event streams for tests that need every kind of interfaces.md §3.

The market is the simulator's own (``SimCore``, the stream ``generate_events`` yields); the
own orders and fills come through the simulator's order path: the matching engine fills a
small taker order, and its WS account messages are parsed by the client's parser, as the
daemon would receive them.
"""

from __future__ import annotations

from marketdata.kalshi import ws_parse
from marketdata.model.events import Event
from marketdata.sim.clearing import Clearing
from marketdata.sim.core import SimCore
from marketdata.sim.ledger import AccountEvent
from marketdata.sim.matching import MatchingEngine
from marketdata.sim.order_types import OrderError, OrderRequest
from marketdata.sim.stream import history_for

START_TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a window's opening
USER = "tests"
ORDER_EVERY_S = 60
MIN_EVENTS_PER_MINUTE = 300  # a clock tick, a print and a ticker every second, and more


def market_with_own_orders(n: int, *, seed: int, start_ts: int = START_TS) -> list[Event]:
    """The first ``n`` events of the simulator's market from ``start_ts``, with a one-contract
    taker buy at the best YES ask every minute: its book delta and public trade, then its
    ``OwnFill`` and ``OrderUpdate``. The same ``(seed, start_ts)`` always gives the same
    events, and a shorter stream is a prefix of a longer one."""
    minutes = n // MIN_EVENTS_PER_MINUTE + 1
    core = SimCore(seed=seed, start_ts=start_ts, history=history_for(seed, start_ts, minutes))
    engine = MatchingEngine(core, Clearing(opening_balance_micros=10**9), seed=seed)
    events: list[Event] = list(core.initial_events())
    second = 0
    while len(events) < n:
        if second >= minutes * 60:
            raise ValueError(f"{minutes} minutes of seed {seed} hold fewer than {n} events")
        second += 1
        events += core.step()
        if second % ORDER_EVERY_S == 0:
            events += _own_taker_buy(core, engine, f"own-{second}")
    return events[:n]


def _own_taker_buy(core: SimCore, engine: MatchingEngine, client_order_id: str) -> list[Event]:
    market = core.active
    ask = None if market is None else core.books[market.ticker].best_yes_ask
    if market is None or ask is None:
        return []
    request = OrderRequest(
        market.ticker, "bid", ask, 100, "immediate_or_cancel", client_order_id, "yes", "buy"
    )
    try:
        _, events = engine.place(USER, request, core.now)
    except OrderError:
        return []  # between a close and the next opening: no order this minute
    events += [own for note in engine.clearing.outbox if (own := _own_event(note)) is not None]
    engine.clearing.outbox.clear()
    return events


def _own_event(note: AccountEvent) -> Event | None:
    if note.channel == "fill":
        return ws_parse.fill(note.msg, note.ts, note.ts)
    if note.channel == "user_orders":
        return ws_parse.user_order(note.msg, note.ts, note.ts)
    return None  # market_positions: no §3 event carries it
