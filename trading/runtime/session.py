"""The session driver: one event at a time through the engine and the lanes' venues.

The one thing that feeds events to the engine and intents to venues, pure (no Django, no
I/O), so the daemon, the replay-parity check and the backtester run the same code and a
recorded stream fed here reproduces the daemon's trades exactly. Each lane has a venue
(``trading.venues.base.Venue``; one paper venue serves every paper lane over the same
books). For each event:

1. when its time crosses a whole second, a ``ClockTick`` at that second goes first
   (interfaces.md §4; a stream that already carries the tick gets no second one); an
   event older than "now" (the latest event time) never ticks nor moves "now" back;
2. each venue does the work due at or before "now" (paper orders fill against the books
   as they stood: paper latency is in event time);
3. the venues and the engine see the event; intents go to their lane's venue; work due
   at once (zero latency) is done at once.

Venue reports (fills and order ends, in the exchange's shape) go to the engine through
``Engine.on_report`` and out with the other outputs; they are never journalled. Every
event actually consumed, synthesised ticks included, goes to ``on_consumed`` (the
recorder) before it is processed, so the journal is exactly what the engine saw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from marketdata.model.candles import Candle
from marketdata.model.events import ClockTick, Event
from trading.engine.engine import Engine, Output
from trading.engine.intents import CancelOrder, ClosePosition, PlaceOrder
from trading.engine.lane import LaneSpec
from trading.engine.mlgate import WinPredictor
from trading.engine.params import Params
from trading.venues.base import Venue, VenueReport
from trading.venues.paper import PaperVenue

SessionOutput = Output | VenueReport
SESSION_SNAPSHOT_VERSION = 2
_ORDER_INTENTS = (PlaceOrder, ClosePosition, CancelOrder)


class Session:
    def __init__(
        self,
        engine: Engine,
        venues: Mapping[str, Venue],
        *,
        on_consumed: Callable[[Event], None] | None = None,
    ) -> None:
        missing = set(engine.lanes) - set(venues)
        if missing:
            raise ValueError(f"lanes without a venue: {', '.join(sorted(missing))}")
        self.engine = engine
        self.venues = dict(venues)  # lane → venue
        for lane, venue in self.venues.items():
            if venue.exchange_run is not None:
                engine.trade_on_exchange(lane, venue.exchange_run)
        # each venue once, in lane order (one paper venue serves many lanes)
        self._distinct: tuple[Venue, ...] = tuple({id(v): v for v in venues.values()}.values())
        if len(self._distinct) == 1:
            self._venue = self._distinct[0]
            self.feed = self._feed_one_venue  # type: ignore[method-assign]
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

    def start(self) -> list[SessionOutput]:
        """What sinks need before the first event (``Engine.start_records``)."""
        return list(self.engine.start_records())

    # --- operator controls ---------------------------------------------------------------

    def set_paused(self, paused: bool) -> None:
        self.engine.set_controls(paused=paused)

    def set_lanes_paused(self, lanes: frozenset[str]) -> None:
        """No entries on these lanes (the live lane outside live mode); exits continue."""
        self.engine.set_controls(lanes_paused=lanes)

    def set_predictor(self, predictor: WinPredictor | None, error: str = "") -> None:
        """The ML gate's model (None: no model, ``error`` says why; the gate fails open)."""
        self.engine.ml_gate.set_predictor(predictor, error)

    def apply_params(self, params: Params, lane: str | None = None) -> list[SessionOutput]:
        """``lane``'s parameters (every lane's when None), between events."""
        return list(self.engine.apply_params(params, lane))

    def close_all(
        self, reason: str = "EMERGENCY_STOP", lane: str | None = None
    ) -> list[SessionOutput]:
        out: list[SessionOutput] = []
        self._handle(self.engine.close_all(reason, lane), out)
        out.extend(self.venue_reports())
        return out

    def venue_reports(self) -> list[SessionOutput]:
        """What the venues reported since the last event, handed to the engine now (a stop:
        a settlement the venue booked with the clock held is the engine's before its state
        is saved)."""
        out: list[SessionOutput] = []
        self._execute_due(self.engine.now, out)
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
        # "now" is the latest event time: an event from one socket a little older than the
        # other's latest (the network feed) never moves the venue's clock back.
        now = event.ts if event.ts > self.engine.now else self.engine.now
        self._execute_due(now, out)
        for venue in self._distinct:
            reports = venue.on_event(event)
            if reports:
                self._report(reports, out)
        self._handle(self.engine.on_event(event), out)
        self._execute_due(now, out)

    def _execute_due(self, now: int, out: list[SessionOutput]) -> None:
        for venue in self._distinct:
            due = venue.next_due_ts()
            if due is not None and due <= now:
                self._report(venue.execute_due(now), out)

    def _feed_one_venue(self, event: Event) -> list[SessionOutput]:
        """``feed`` for the common case of one venue serving every lane: ``_consume``'s
        steps written out, without the loops and without a call more (this is the daemon's
        and the backtester's hot path); a new second's tick is fed first, as ``feed`` does."""
        second = event.ts // 1000
        if self.second is None or second > self.second:
            self.second = second
            if not (isinstance(event, ClockTick) and event.ts == second * 1000):
                ticked = self._feed_one_venue(ClockTick(ts=second * 1000))
                return ticked + self._feed_one_venue(event)  # now of the current second
        out: list[SessionOutput] = []
        self.events += 1
        if self.on_consumed is not None:
            self.on_consumed(event)
        engine = self.engine
        now = event.ts if event.ts > engine.now else engine.now
        venue = self._venue
        due = venue.next_due_ts()
        if due is not None and due <= now:
            self._report(venue.execute_due(now), out)
        reports = venue.on_event(event)
        if reports:
            self._report(reports, out)
        outputs = engine.on_event(event)
        if outputs:  # most events change nothing the sinks hear of
            self._handle(outputs, out)
        due = venue.next_due_ts()
        if due is not None and due <= now:
            self._report(venue.execute_due(now), out)
        return out

    def _handle(self, outputs: list[Output], out: list[SessionOutput]) -> None:
        for output in outputs:
            out.append(output)
            if isinstance(output, _ORDER_INTENTS):
                reports = self.venues[output.lane].submit(output)
                if reports:
                    self._report(reports, out)

    def _report(self, reports: Sequence[VenueReport], out: list[SessionOutput]) -> None:
        engine = self.engine
        for report in reports:
            out.append(report)
            self._handle(engine.on_report(report.lane, report.update), out)

    # --- restart -------------------------------------------------------------------------

    def snapshot(self, **runtime: Any) -> dict[str, Any]:
        """Plain JSON: the engine's lanes and orders in flight, each venue's state, the
        driver's second, plus whatever the daemon adds (``runtime``: run start, warm-up
        boundary…)."""
        return {
            "version": SESSION_SNAPSHOT_VERSION,
            "engine": self.engine.snapshot(),
            "venues": {venue.name: venue.snapshot() for venue in self._distinct},
            "second": self.second,
            "runtime": runtime,
        }


VenueFactory = Callable[[Sequence[str]], Mapping[str, Venue]]


def paper_venues(latency_ms: int) -> VenueFactory:
    """Every lane on one paper venue (the shared books)."""

    def build(lanes: Sequence[str]) -> Mapping[str, Venue]:
        venue = PaperVenue(latency_ms)
        return {lane: venue for lane in lanes}

    return build


def new_session(
    params: Params,
    *,
    lanes: Sequence[str | LaneSpec] = ("paper",),
    bankroll: int | Mapping[str, int],
    venues: VenueFactory,
    warmup: Iterable[Candle] = (),
    on_consumed: Callable[[Event], None] | None = None,
    market_snapshots: bool = True,
) -> Session:
    engine = Engine(params, lanes, bankroll, market_snapshots=market_snapshots)
    engine.warm_up(warmup)
    return Session(engine, venues(tuple(engine.lanes)), on_consumed=on_consumed)


def restored_session(
    params: Params,
    snapshot: Mapping[str, Any],
    *,
    venues: VenueFactory,
    warmup: Iterable[Candle],
    replay: Iterable[Event],
    on_consumed: Callable[[Event], None] | None = None,
) -> Session:
    """Lanes (bankroll, breaker, positions, cooldowns, orders in flight) and the venues'
    queued work from the snapshot; market windows (candles, regime, OBI, spreads, books,
    contracts) rebuilt by replaying recorded events after ``warmup`` through a lane-less
    engine and the venues.

    Market state never depends on the lanes, so when the replay covers the whole run
    since its warm-up the rebuilt market equals the one the stopped daemon had.
    """
    version = snapshot.get("version")
    if version not in (1, SESSION_SNAPSHOT_VERSION):
        raise ValueError(f"unknown session snapshot version {version!r}")
    market_engine = Engine(params, (), 0)
    market_engine.warm_up(warmup)
    engine_state = snapshot["engine"]
    if version == 1:  # orders in flight were kept beside the lanes, not in them
        engine_state = _with_v1_orders(engine_state, snapshot.get("engine_orders", {}))
    engine = Engine.restore(params, engine_state)
    lane_venues = venues(tuple(engine.lanes))
    distinct = {id(v): v for v in lane_venues.values()}.values()
    second: int | None = None
    for event in replay:
        for venue in distinct:
            venue.on_event(event)  # books and market phases only: reports need orders
        market_engine.on_event(event)
        second = event.ts // 1000 if second is None else max(second, event.ts // 1000)
    # The engine did its per-second work for this second before it stopped; do not redo it.
    engine.adopt_market(market_engine.market, market_engine.now if second is not None else None)
    if version == 1:  # before venues were named: one paper venue
        saved = {PaperVenue.name: snapshot["venue_orders"]}
    else:
        saved = snapshot["venues"]
    for venue in distinct:
        if venue.name in saved:
            venue.restore(saved[venue.name])
    session = Session(engine, lane_venues, on_consumed=on_consumed)
    saved_second = snapshot.get("second")
    session.second = saved_second if second is None else max(second, saved_second or second)
    return session


def _with_v1_orders(engine: Mapping[str, Any], orders: Mapping[str, Any]) -> dict[str, Any]:
    lanes = {
        name: {**data, "orders": data.get("orders") or orders.get(name, [])}
        for name, data in engine["lanes"].items()
    }
    return {**engine, "lanes": lanes}
