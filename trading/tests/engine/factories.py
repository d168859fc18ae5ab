"""Hand-built events and a stepped-clock scenario for engine tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from marketdata.model.candles import Candle
from marketdata.model.events import (
    BookDelta,
    BookSnapshot,
    ClockTick,
    Event,
    MarketStatus,
    OrderUpdate,
    OwnFill,
    SpotTrade,
)
from trading.engine.engine import Engine, Output
from trading.engine.intents import ClosePosition, PlaceOrder
from trading.engine.lane import Position
from trading.engine.params import Params
from trading.engine.records import Decision, PositionClosed
from trading.runtime.session import Session, SessionOutput, paper_venues
from trading.venues.base import VenueReport

T = TypeVar("T")

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday
WINDOW_MS = 900_000


def ticker_at(open_ts: int) -> str:
    return f"KXBTC15M-{open_ts // 1000}"


def candle(o: float, h: float, low: float, c: float, start_ts: int = T0, ticks: int = 10) -> Candle:
    return Candle(start_ts, 900, o, h, low, c, 0.0, ticks)


def status(
    ts: int, open_ts: int, *, phase: str = "open", result: str | None = None
) -> MarketStatus:
    return MarketStatus(
        ts=ts,
        ticker=ticker_at(open_ts),
        status=phase,  # type: ignore[arg-type]
        strike=90000.0,
        open_ts=open_ts,
        close_ts=open_ts + WINDOW_MS,
        result=result,  # type: ignore[arg-type]
    )


def snapshot(
    ts: int, ticker: str, yes: tuple[tuple[int, int], ...], no: tuple[tuple[int, int], ...]
) -> BookSnapshot:
    return BookSnapshot(ts=ts, ticker=ticker, yes=yes, no=no)


# A bid-heavy book: YES bid 48 ¢ × 1500, YES ask 50 ¢ × 500 → raw OBI 0.75, volume 2000.
LONG_YES = ((4800, 150_000),)
LONG_NO = ((5000, 50_000),)
# An ask-heavy book: YES bid 48 ¢ × 500, YES ask 50 ¢ × 1500 → raw OBI 0.25.
SHORT_YES = ((4800, 50_000),)
SHORT_NO = ((5000, 150_000),)


def engine_outputs(outputs: Iterable[SessionOutput]) -> list[Output]:
    """The engine's own outputs (intents and records) among a session's: venue reports
    (``VenueReport``) are the venue's, not the engine's decisions."""
    return [o for o in outputs if not isinstance(o, VenueReport)]


def replay(engine: Engine, events: Iterable[Event], latency_ms: int = 0) -> list[Output]:
    """Drive ``engine`` over ``events`` as the daemon does (session + paper venue, fills
    ``latency_ms`` of event time after the decision) and return its own outputs."""
    venues = paper_venues(latency_ms)(tuple(engine.lanes))
    return engine_outputs(Session(engine, venues).feed_all(events))


def fill(
    engine: Engine,
    lane: str,
    client_order_id: str,
    fills: Iterable[tuple[int, int, int]],
    ts: int | None = None,
) -> list[Output]:
    """Report fills (YES price, count, fee) of an order as an exchange account would."""
    out: list[Output] = []
    for number, (yes_price, count, fee) in enumerate(fills, 1):
        report = OwnFill(
            ts=engine.now if ts is None else ts,
            trade_id=f"{client_order_id}#{number}",
            order_id=client_order_id,
            client_order_id=client_order_id,
            ticker="",
            side="yes",
            action="buy",
            yes_price=yes_price,
            count=count,
            fee=fee,
            is_taker=True,
        )
        out += engine.on_report(lane, report)
    return out


def done(engine: Engine, lane: str, client_order_id: str, ts: int | None = None) -> list[Output]:
    """Report the end of an order (the rest cancelled) as an exchange account would."""
    update = OrderUpdate(
        ts=engine.now if ts is None else ts,
        order_id=client_order_id,
        client_order_id=client_order_id,
        ticker="",
        side="yes",
        action="buy",
        status="canceled",
        yes_price=0,
        filled_count=0,
        remaining_count=0,
    )
    return engine.on_report(lane, update)


class Scenario:
    """An engine plus a stepped clock; collects every output."""

    def __init__(
        self, params: Params | None = None, lanes: tuple[str, ...] = ("paper", "live"), **kw: Any
    ) -> None:
        self.engine = Engine(params or Params(), lanes=lanes, **kw)
        self.now = T0
        self.outputs: list[Output] = []

    def feed(self, event: Event) -> list[Output]:
        self.now = max(self.now, event.ts)
        out = self.engine.on_event(event)
        self.outputs.extend(out)
        return out

    def at(self, ms: int) -> int:
        return T0 + ms

    def open_contract(
        self, open_ts: int = T0, yes=LONG_YES, no=LONG_NO, spot: float = 90000.0
    ) -> str:
        self.feed(status(open_ts, open_ts))
        self.feed(SpotTrade(ts=open_ts, price=spot, size=0.1))
        self.feed(snapshot(open_ts, ticker_at(open_ts), yes, no))
        return ticker_at(open_ts)

    def tick(self, seconds: int = 1, *, spot: float | None = 90000.0) -> list[Output]:
        """Advance whole seconds with a clock tick (and a spot print to keep data fresh)."""
        out: list[Output] = []
        for _ in range(seconds):
            self.now = (self.now // 1000 + 1) * 1000
            out += self.feed(ClockTick(ts=self.now))
            if spot is not None:
                out += self.feed(SpotTrade(ts=self.now, price=spot, size=0.1))
        return out

    def delta(self, ticker: str, side: str, price: int, delta: int) -> list[Output]:
        return self.feed(BookDelta(ts=self.now, ticker=ticker, side=side, price=price, delta=delta))  # type: ignore[arg-type]

    def fill_all(self, out: Sequence[object]) -> list[Output]:
        """Fill every order intent in ``out`` completely at its limit, with no fee."""
        more: list[Output] = []
        for item in out:
            if isinstance(item, (PlaceOrder, ClosePosition)):
                more += fill(
                    self.engine, item.lane, item.client_order_id, [(item.yes_price, item.count, 0)]
                )
                more += done(self.engine, item.lane, item.client_order_id)
        self.outputs.extend(more)
        return more

    def fill_at(self, out: Sequence[object], yes_price: int, fee: int = 0) -> list[Output]:
        more: list[Output] = []
        for item in out:
            if isinstance(item, (PlaceOrder, ClosePosition)):
                more += fill(
                    self.engine, item.lane, item.client_order_id, [(yes_price, item.count, fee)]
                )
                more += done(self.engine, item.lane, item.client_order_id)
        self.outputs.extend(more)
        return more

    def enter_long(self) -> list[Output]:
        """Open a contract with a bid-heavy book and tick until both lanes sent an entry."""
        self.open_contract()
        out = self.tick(3)
        return out


def of(outputs: Sequence[object], cls: type[T]) -> list[T]:
    return [o for o in outputs if isinstance(o, cls)]


def position_of(engine: Engine, lane: str = "paper") -> Position:
    """The lane's open position (the test fails if there is none)."""
    position = engine.lanes[lane].position
    assert position is not None, f"{lane} holds no position"
    return position


def decisions(outputs: Sequence[object], lane: str = "paper") -> list[Decision]:
    return [o for o in outputs if isinstance(o, Decision) and o.lane == lane]


def closed(outputs: Sequence[object], lane: str = "paper") -> list[PositionClosed]:
    return [o for o in outputs if isinstance(o, PositionClosed) and o.lane == lane]
