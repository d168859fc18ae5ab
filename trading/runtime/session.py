"""The session driver: one event at a time through the engine and the paper venue.

The same function serves the daemon, the replay-parity check and (later) the backtester,
so a recorded stream fed here reproduces the daemon's trades exactly. For each event:

1. when its time crosses a whole second, a ``ClockTick`` at that second goes first
   (interfaces.md §4; a stream that already carries the tick gets no second one); an
   event older than "now" (the latest event time) never ticks nor moves "now" back;
2. orders due at or before "now" fill against the books as they stood
   (paper latency is in event time);
3. the venue and the engine see the event; intents go to the venue; orders with zero
   latency fill at once.

Every event actually consumed, synthesised ticks included, goes to ``on_consumed`` (the
recorder) before it is processed, so the journal is exactly what the engine saw.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from marketdata.model.candles import Candle
from marketdata.model.events import ClockTick, Event
from trading.engine.engine import Engine, Output
from trading.engine.intents import CancelOrder, ClosePosition, PlaceOrder
from trading.engine.lane import PendingOrder
from trading.engine.params import Params
from trading.venues.paper import Execution, PaperVenue

SessionOutput = Output | Execution
SESSION_SNAPSHOT_VERSION = 1


class Session:
    def __init__(
        self,
        engine: Engine,
        venue: PaperVenue,
        *,
        on_consumed: Callable[[Event], None] | None = None,
    ) -> None:
        self.engine = engine
        self.venue = venue
        self.on_consumed = on_consumed
        self.second: int | None = None  # latest whole second of event time consumed
        self.events = 0

    @property
    def now(self) -> int:
        return self.engine.now

    def feed(self, event: Event) -> list[SessionOutput]:
        out: list[SessionOutput] = []
        second = event.ts // 1000
        if self.second is None or second > self.second:
            self.second = second
            if not (isinstance(event, ClockTick) and event.ts == second * 1000):
                self._consume(ClockTick(ts=second * 1000), out)
        self._consume(event, out)
        return out

    def feed_all(self, events: Iterable[Event]) -> list[SessionOutput]:
        out: list[SessionOutput] = []
        for event in events:
            out.extend(self.feed(event))
        return out

    # --- operator controls ---------------------------------------------------------------

    def set_paused(self, paused: bool) -> None:
        self.engine.set_controls(paused=paused)

    def apply_params(self, params: Params) -> None:
        self.engine.apply_params(params)

    def close_all(self, reason: str = "EMERGENCY_STOP") -> list[SessionOutput]:
        out: list[SessionOutput] = []
        self._handle(self.engine.close_all(reason), out)
        self._report(self.venue.execute_due(self.engine.now), out)
        return out

    def reset_drawdown(self, lane: str) -> list[SessionOutput]:
        out: list[SessionOutput] = []
        self._handle(self.engine.reset_drawdown(lane), out)
        return out

    # --- the pipeline --------------------------------------------------------------------

    def _consume(self, event: Event, out: list[SessionOutput]) -> None:
        self.events += 1
        if self.on_consumed is not None:
            self.on_consumed(event)
        venue = self.venue
        # "now" is the latest event time: an event from one socket a little older than the
        # other's latest (the network feed) never moves the venue's clock back.
        now = event.ts if event.ts > self.engine.now else self.engine.now
        if venue.queue and venue.queue[0].due_ts <= now:
            self._report(venue.execute_due(now), out)
        venue.on_event(event)
        self._handle(self.engine.on_event(event), out)
        if venue.queue and venue.queue[0].due_ts <= now:
            self._report(venue.execute_due(now), out)

    def _handle(self, outputs: list[Output], out: list[SessionOutput]) -> None:
        for output in outputs:
            out.append(output)
            if isinstance(output, PlaceOrder | ClosePosition | CancelOrder):
                self._report(self.venue.submit(output), out)

    def _report(self, executions: list[Execution], out: list[SessionOutput]) -> None:
        engine = self.engine
        for execution in executions:
            out.append(execution)
            if execution.fills:
                self._handle(
                    engine.on_fill(
                        execution.lane, execution.client_order_id, execution.fills, execution.ts
                    ),
                    out,
                )
            self._handle(
                engine.on_order_done(execution.lane, execution.client_order_id, execution.ts),
                out,
            )

    # --- restart -------------------------------------------------------------------------

    def snapshot(self, **runtime: Any) -> dict[str, Any]:
        """Plain JSON: the engine's lanes, the venue's queued orders, the driver's second,
        plus whatever the daemon adds (``runtime``: run start, warm-up boundary…)."""
        return {
            "version": SESSION_SNAPSHOT_VERSION,
            "engine": self.engine.snapshot(),
            "venue_orders": self.venue.snapshot(),
            # The engine's snapshot leaves orders in flight out; a paper order queued at the
            # stop must still find its engine order after the restart, or its fill is lost.
            "engine_orders": {
                name: [dataclasses.asdict(order) for order in lane.orders.values()]
                for name, lane in self.engine.lanes.items()
            },
            "second": self.second,
            "runtime": runtime,
        }


def new_session(
    params: Params,
    *,
    lanes: tuple[str, ...] = ("paper",),
    bankroll: int | Mapping[str, int],
    latency_ms: int,
    warmup: Iterable[Candle] = (),
    on_consumed: Callable[[Event], None] | None = None,
) -> Session:
    engine = Engine(params, lanes, bankroll)
    engine.warm_up(warmup)
    return Session(engine, PaperVenue(latency_ms), on_consumed=on_consumed)


def restored_session(
    params: Params,
    snapshot: Mapping[str, Any],
    *,
    latency_ms: int,
    warmup: Iterable[Candle],
    replay: Iterable[Event],
    on_consumed: Callable[[Event], None] | None = None,
) -> Session:
    """Lanes (bankroll, breaker, positions, cooldowns) and queued paper orders from the
    snapshot; market windows (candles, regime, OBI, spreads, books, contracts) rebuilt by
    replaying recorded events after ``warmup`` through a lane-less engine.

    Market state never depends on the lanes, so when the replay covers the whole run
    since its warm-up the rebuilt market equals the one the stopped daemon had.
    """
    if snapshot.get("version") != SESSION_SNAPSHOT_VERSION:
        raise ValueError(f"unknown session snapshot version {snapshot.get('version')!r}")
    market_engine = Engine(params, (), 0)
    market_engine.warm_up(warmup)
    venue = PaperVenue(latency_ms)
    second: int | None = None
    for event in replay:
        venue.on_event(event)
        market_engine.on_event(event)
        second = event.ts // 1000 if second is None else max(second, event.ts // 1000)
    engine = Engine.restore(params, snapshot["engine"])
    # The engine did its per-second work for this second before it stopped; do not redo it.
    engine.adopt_market(market_engine.market, market_engine.now if second is not None else None)
    for name, orders in snapshot.get("engine_orders", {}).items():
        lane = engine.lanes[name]
        for fields in orders:
            order = PendingOrder(**fields)
            lane.orders[order.client_order_id] = order
    venue.restore_orders(snapshot["venue_orders"])
    session = Session(engine, venue, on_consumed=on_consumed)
    saved_second = snapshot.get("second")
    session.second = saved_second if second is None else max(second, saved_second or second)
    return session
