"""The engine: events in, intents and records out (architecture.md, interfaces.md §3, §4).

"Now" is the latest event time. Whenever an event crosses a whole second, the engine first
does its per-second work with the state as it stood at that second (close candles, pick
the active contract, take OBI/spread readings, roll breakers, run every lane's exits and
entry evaluation), then applies the event. Book changes on a held contract re-run that
lane's exits at once. Lanes share the market state; each has its own bankroll, breaker,
position, orders and cooldowns.

Orders are immediate-or-cancel and confirmed later. Every venue (paper, the exchange)
reports what happened to an order in the shape an exchange account does, an ``OwnFill``
per fill and a terminal ``OrderUpdate``, and the driver hands each to ``on_report`` with
the lane it belongs to: one fill path for every venue. Account events are the venue's to
read, so ``on_event`` only lets them move the clock. An exchange account's venue also
reports what it learns without fills (``PositionCorrection``: the exchange's count of the
lane's position; ``BalanceSync``: the account's cash), so a live lane's position and
bankroll are the exchange's, and settles that lane's position (``PositionSettled``) once it
has checked the account: the result alone settles only a lane on the engine's own venue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from marketdata.model.candles import Candle
from marketdata.model.events import (
    BookDelta,
    BookSnapshot,
    ClockTick,
    Event,
    MarketStatus,
    OrderUpdate,
    OwnFill,
    PublicTrade,
    Side,
    SpotTicker,
    SpotTrade,
)
from marketdata.model.units import PRICE_MAX
from trading.engine.breaker import day_index, loss_fraction, week_index
from trading.engine.entry import (
    EntryFeatures,
    MarketSignals,
    SharedVerdict,
    evaluate_entry,
    exit_limit,
    market_signals,
    shared_verdict,
    signal_directions,
)
from trading.engine.intents import (
    BalanceSync,
    CancelOrder,
    ClosePosition,
    Intent,
    OrderRestored,
    PlaceOrder,
    PositionCorrection,
    PositionSettled,
    VenueNotice,
)
from trading.engine.lane import Lane, LaneSpec, PendingOrder, Position
from trading.engine.market import MarketState
from trading.engine.mlgate import MlGate
from trading.engine.params import ParamError, Params, market_differences
from trading.engine.position_watch import watch_position
from trading.engine.records import (
    HANDED_OFF,
    BreakerChanged,
    CandleClosed,
    FeaturesCaptured,
    LaneStatus,
    MarketSnapshot,
    OrderDone,
    PositionUpdated,
    Record,
    RegimeChanged,
)
from trading.engine.signals import Direction
from trading.engine.signals.obi import obi_extremes

Output = Intent | Record
Fill = tuple[int, int, int]  # (YES price units, count hundredths, fee micro-dollars)
SNAPSHOT_VERSION = 1
DEFAULT_BANKROLL = 1_000_000_000  # $1000, the original's INITIAL_BANKROLL
UNKNOWN = "UNKNOWN"  # the driver, conviction and regime of an entry restored from the venue


class Engine:
    def __init__(
        self,
        params: Params,
        lanes: Sequence[str | LaneSpec] = ("paper", "live"),
        initial_bankroll_micros: int | Mapping[str, int] = DEFAULT_BANKROLL,
        *,
        market_snapshots: bool = True,
    ) -> None:
        """``params`` give the market parameters (shared) and every lane's parameters
        unless its ``LaneSpec`` brings its own, whose market parameters must be the same."""
        self.params = params
        # A driver without an operator (backtests, research) switches the per-second
        # market card off: it costs a record a second and nobody reads it there.
        self.market_snapshots = market_snapshots
        self.params_hash = params.params_hash()
        self.market = MarketState(params)
        specs = [LaneSpec.of(lane) for lane in lanes]
        if isinstance(initial_bankroll_micros, int):
            bankrolls = {spec.name: initial_bankroll_micros for spec in specs}
        else:
            bankrolls = dict(initial_bankroll_micros)
        self.lanes: dict[str, Lane] = {}
        for spec in specs:
            if spec.name in self.lanes:
                raise ValueError(f"lane {spec.name}: named twice")
            lane_params = self._lane_params(spec.name, spec.params or params)
            self.lanes[spec.name] = Lane(
                spec.name,
                bankrolls[spec.name],
                kind=spec.kind,
                params=lane_params,
                decisions=spec.decisions,
            )
        # The lanes holding a position, in lane order (``_positions_moved``).
        self._holding: list[Lane] = []
        self._quiet = _QuietLanes(self.lanes.values())
        # The ML gate's predictor comes from the daemon (``set_predictor``); none: fail-open.
        self.ml_gate = MlGate()
        self.now = 0
        self.paused = False
        self.lanes_paused: frozenset[str] = frozenset()
        self._second: int | None = None
        self._minute: int | None = None
        # The best YES bid and ask each lane's position was last judged on.
        self._marks: dict[str, tuple[int | None, int | None] | None] = {}
        self._breaker_keys: dict[str, tuple[int, int, int, int, bool]] = {}
        self._dispatch = {
            BookDelta: self._on_book_delta,
            BookSnapshot: self._on_book_snapshot,
            SpotTrade: self._on_spot,
            SpotTicker: self._on_spot,
            PublicTrade: self._on_public_trade,
            MarketStatus: self._on_status,
            OwnFill: _ignore,
            OrderUpdate: _ignore,
            ClockTick: _ignore,
        }

    # --- input ---------------------------------------------------------------------------

    def on_event(self, event: Event) -> list[Output]:
        out: list[Output] = []
        if event.ts > self.now:
            self.now = event.ts
        second = self.now // 1000
        if second != self._second:
            self._second = second
            self._on_second(out)
        self._dispatch[type(event)](event, out)  # type: ignore[operator]
        return out

    def on_report(self, lane: str, report: OwnFill | OrderUpdate | VenueNotice) -> list[Output]:
        """A venue's report on one of ``lane``'s orders, as an exchange account sends it: a
        fill opens, grows, shrinks or closes the position; an order that is no longer
        working (executed, or its remainder cancelled) is over, and nothing more fills.
        A correction sets the lane's position to the exchange's; a balance sync sets its
        bankroll from the account's cash."""
        if isinstance(report, OwnFill):
            fill = (report.yes_price, report.count, report.fee)
            return self._fill(lane, report.client_order_id, (fill,), report.ts)
        if isinstance(report, PositionCorrection):
            return self._correct(self.lanes[lane], report)
        if isinstance(report, BalanceSync):
            return self._sync_bankroll(self.lanes[lane], report)
        if isinstance(report, OrderRestored):
            return self._restore_order(self.lanes[lane], report)
        if isinstance(report, PositionSettled):
            return self._settle_reported(self.lanes[lane], report)
        if report.status == "resting" or report.remaining_count > 0:
            return []
        return self._order_done(lane, report.client_order_id, report.ts)

    def start_records(self) -> list[Record]:
        """What a driver's sinks need to know of a started or restored engine before its
        first event: every lane's status and the positions it holds (as opened records,
        at their open count); later changes come as records."""
        out: list[Record] = [self._lane_status(lane) for lane in self.lanes.values()]
        for lane in self.lanes.values():
            position = lane.position
            if position is not None and position.count > 0:
                out.append(
                    position.opened_record(
                        position.opened_ts,
                        lane.name,
                        lane.params_hash,
                        position.entry_client_order_id,
                    )
                )
        return out

    def _fill(
        self, lane: str, client_order_id: str, fills: Iterable[Fill], ts: int | None = None
    ) -> list[Output]:
        out: list[Output] = []
        the_lane = self.lanes[lane]
        order = the_lane.orders.get(client_order_id)
        if order is None:
            return out  # not ours, or already settled: the live position manager reconciles
        now = self.now if ts is None else ts
        breaker = the_lane.breaker
        if breaker.day is not None and day_index(now) > breaker.day:  # a new week is a new day
            # A fill due at 00:00:00.000 comes before that second's tick (the venue fills
            # what is due first): its PnL belongs to the new day, so the day rolls first.
            breaker.roll(now)
        for yes_price, count, fee in fills:
            order.filled += count
            if order.purpose == "entry":
                self._entry_fill(the_lane, order, yes_price, count, fee, now, out)
            else:
                self._exit_fill(the_lane, order, yes_price, count, fee, now, out)
        if order.purpose == "entry":
            self._settle_if_determined(the_lane, order.ticker, out)
        return out

    def _order_done(self, lane: str, client_order_id: str, ts: int | None = None) -> list[Output]:
        order = self.lanes[lane].orders.pop(client_order_id, None)
        if order is None:
            return []
        now = self.now if ts is None else ts
        return [OrderDone(now, lane, client_order_id, order.purpose, order.count, order.filled)]

    def _correct(self, lane: Lane, correction: PositionCorrection) -> list[Output]:
        """The exchange holds ``correction.count`` of the lane's position: a new count keeps
        the average entry (``Position.recount``); none closes the position as handed off
        (its record labelled with the reason and kept out of the trades like a quarantined
        one, no PnL booked: the bankroll follows the account, ``_sync_bankroll``). The
        lane never opens a position from a correction: it has no entry to describe (the
        venue's ``OrderRestored`` does). Orders the venue is not ``working`` on are over."""
        out: list[Output] = []
        if correction.working is not None:
            for coid in [c for c in lane.orders if c not in correction.working]:
                out.extend(self._order_done(lane.name, coid, max(self.now, correction.ts)))
        position = lane.position
        if position is None:
            return out
        count = correction.count if correction.ticker == position.ticker else 0
        if count == position.count:
            return out
        now = max(self.now, correction.ts)
        if count > 0:
            position.recount(count)
            out.append(self._update_record(lane, position, "recount", now))
            return out
        position.exit_reason = correction.reason
        position.exit_client_order_id = ""
        for coid in [c for c, o in lane.orders.items() if o.ticker == position.ticker]:
            del lane.orders[coid]  # the venue ends them; their late fills are not the lane's
        self._close(lane, position, HANDED_OFF, now, out, handed_off=correction.reason)
        return out

    def _restore_order(self, lane: Lane, restored: OrderRestored) -> list[Output]:
        """An order in flight at the last stop, as the exchange has it (``OrderRestored``):
        its fills the lane does not have yet are booked, and it is over. An order the
        saved state does not know is taken up when it describes the lane: an entry while
        the lane is flat, an exit of the position it holds on that ticker (of that entry,
        when the venue names it) that is not the exit the position booked last."""
        coid, fills = restored.client_order_id, restored.fills
        order = lane.orders.get(coid)
        if order is not None:
            fills = _without_first(fills, order.filled - restored.earlier)
        elif fills:
            position = lane.position
            direction: Direction = "LONG" if restored.side == "yes" else "SHORT"
            count = sum(c for _, c, _ in fills)
            if restored.purpose == "entry" and position is None:
                order = PendingOrder(
                    coid, "entry", restored.ticker, direction, count, 0, restored.ts,
                    driver=UNKNOWN, conviction=UNKNOWN, regime=UNKNOWN,
                )  # fmt: skip
            elif (
                restored.purpose == "exit"
                and position is not None
                and position.ticker == restored.ticker
                and restored.entry in ("", position.entry_client_order_id)
                and coid != position.exit_client_order_id  # booked before the stop
            ):
                position.exit_reason = position.exit_reason or restored.reason
                limit = exit_limit(position.direction)
                order = PendingOrder(
                    coid, "exit", position.ticker, position.direction, count, limit, restored.ts
                )
            if order is not None:
                lane.orders[coid] = order
        if order is None:
            return []
        ts = max(self.now, restored.ts)
        out = self._fill(lane.name, coid, fills, ts) if fills else []
        out.extend(self._order_done(lane.name, coid, ts))
        return out

    def _sync_bankroll(self, lane: Lane, sync: BalanceSync) -> list[Output]:
        """Bankroll = the account's cash and what it holds at cost outside the lane, plus
        the lane's open cost and entry fees. The difference moves it as a PnL would (the
        peak and the breaker follow)."""
        out: list[Output] = []
        target = sync.cash + sync.held
        if lane.position is not None:
            target += lane.position.cost + lane.position.entry_fees
        difference = target - lane.breaker.bankroll
        if difference == 0:
            return out
        lane.breaker.apply_pnl(difference)
        self._evaluate_breaker(lane, out)
        out.append(self._lane_status(lane))
        return out

    # --- controls ------------------------------------------------------------------------

    def trade_on_exchange(self, lane: str, run: int) -> None:
        """``lane``'s venue is an exchange account, in its ``run``-th start (the venue's
        durable count): the lane's order ids and position uids carry ``run``. A restart
        restores a saved state that may be older than the last orders sent, so its
        sequence numbers come again; an id the exchange has seen would be refused, or a
        lookup by it find the other order. Its settlements are the venue's to report
        (``PositionSettled``, once it has checked the account), never the result's alone."""
        self.lanes[lane].exchange_run = run

    def set_controls(
        self, *, paused: bool | None = None, lanes_paused: frozenset[str] | None = None
    ) -> None:
        """Pause stops new entries on every lane; exits continue (interfaces.md §8).
        ``lanes_paused`` stops entries on those lanes only (the live lane in paper mode)."""
        if paused is not None:
            self.paused = paused
        if lanes_paused is not None:
            self.lanes_paused = lanes_paused

    def close_all(self, reason: str = "EMERGENCY_STOP", lane: str | None = None) -> list[Output]:
        """Operator kill switch: close open positions now (exits keep this reason)."""
        out: list[Output] = []
        for the_lane in self.lanes.values():
            if (lane is None or the_lane.name == lane) and the_lane.position is not None:
                the_lane.position.exit_reason = reason
                self._send_exit(the_lane, the_lane.position, out)
        return out

    def reset_drawdown(self, lane: str) -> list[Output]:
        """Operator action (audited by the caller): clears a drawdown halt."""
        the_lane = self.lanes[lane]
        the_lane.breaker.reset_drawdown()
        if the_lane.position is not None:
            the_lane.position.peak_raised = 0  # the operator's peak stands
        out: list[Output] = []
        self._evaluate_breaker(the_lane, out)
        out.append(self._lane_status(the_lane))
        return out

    def apply_params(self, params: Params, lane: str | None = None) -> list[Output]:
        """A lane's new parameters (every lane's when ``lane`` is None), between events;
        the statuses say which parameters they decide with from now on. Market
        parameters shape the market state every lane shares: they cannot change while the
        engine runs (``ParamError`` names them; they apply with a new engine)."""
        targets = list(self.lanes.values()) if lane is None else [self.lanes[lane]]
        checked = self._lane_params(lane or "every lane", params)
        out: list[Output] = []
        for the_lane in targets:
            the_lane.set_params(checked)
            self._breaker_keys.pop(the_lane.name, None)
            out.append(self._lane_status(the_lane))
        self._quiet = _QuietLanes(self.lanes.values())
        return out

    def _lane_params(self, lane: str, params: Params) -> Params:
        changed = market_differences(params, self.params)
        if changed:
            raise ParamError(
                f"{', '.join(changed)}: market parameter(s) of lane {lane} differ from the "
                "engine's; they apply to every lane with a new engine (at the next start)"
            )
        return params

    def warm_up(self, candles: Iterable[Candle]) -> None:
        """Feed completed candles older than "now" (ATR regime and ROC) before starting."""
        for candle in candles:
            self.market.candles.closed.append(candle)
            self.market.regime.on_candle(candle)
            self.market.on_candle_closed()

    # --- persistence ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Plain-JSON state the daemon persists: bankrolls, breakers, positions, cooldowns
        and orders in flight (a fill reported after the restart must find its order).

        Market state is not kept: it is rebuilt from events and ``warm_up`` (see
        ``adopt_market``).
        """
        return {
            "version": SNAPSHOT_VERSION,
            "now": self.now,
            "paused": self.paused,
            "params_hash": self.params_hash,
            "lanes": {name: lane.to_dict() for name, lane in self.lanes.items()},
        }

    def adopt_market(self, market: MarketState, now: int | None) -> None:
        """Take over market state rebuilt elsewhere, e.g. by replaying recorded events
        through a lane-less engine after a restart (market state never depends on lanes).

        ``market`` must have been built with this engine's parameters; ``now`` is the latest
        event time it saw (None: none). That second's per-second work counts as done, as it
        was before the stop, so it is not redone for the lanes.
        """
        self.market = market
        self._marks.clear()
        if now is None:
            self._second = None
            return
        self.now = max(self.now, now)
        self._second = now // 1000

    @classmethod
    def restore(
        cls,
        params: Params,
        snapshot: Mapping[str, Any],
        lanes: Sequence[str | LaneSpec] | None = None,
    ) -> Engine:
        """The saved lanes (``lanes``: their parameters and settings where not the
        engine's); market state comes back by ``adopt_market``."""
        if snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unknown engine snapshot version {snapshot.get('version')!r}")
        engine = cls(params, lanes=())
        engine.now = snapshot["now"]
        engine.paused = snapshot["paused"]
        specs = {spec.name: spec for spec in map(LaneSpec.of, lanes or ())}
        for name, data in snapshot["lanes"].items():
            spec = specs.get(name)
            lane_params = engine._lane_params(name, (spec and spec.params) or params)
            decisions = spec.decisions if spec is not None else True
            engine.lanes[name] = Lane.from_dict(name, data, params=lane_params, decisions=decisions)
        engine._positions_moved()
        engine._quiet = _QuietLanes(engine.lanes.values())
        return engine

    # --- per second ----------------------------------------------------------------------

    def _on_second(self, out: list[Output]) -> None:
        market, now = self.market, self.now
        self._on_candles(market.advance_candles(now), out)
        market.select_active(now, force=False)
        market.sample_second(now)
        second = _Second()
        quiet_flat_idle = self._quiet.without_signal(market, second)
        day = day_index(now)
        week = week_index(now)
        for lane in self.lanes.values():
            breaker = lane.breaker
            if breaker.day != day or breaker.week != week:
                breaker.roll(now)  # otherwise a no-op: the baselines roll only at 00:00 UTC
            self._evaluate_breaker(lane, out)
            if lane.orders:
                self._expire_orders(lane, out)
            if lane.position is not None:
                self._watch(lane, out, per_second=True)
            elif not lane.orders and not (quiet_flat_idle and not lane.decisions):
                self._evaluate_entry(lane, second, out)
        minute = now // 60_000
        if minute != self._minute:
            self._minute = minute
            out.extend(self._lane_status(lane) for lane in self.lanes.values())
        if self.market_snapshots:
            out.append(self._market_snapshot())

    def _evaluate_entry(self, lane: Lane, second: _Second, out: list[Output]) -> None:
        """A flat lane's entry evaluation. Lanes share what their parameters agree on
        (``shared_keys``): the OBI readings' extremes, the ROC direction, the signals of
        one pair of directions, and the verdict of one verdict key and pair of directions."""
        market, now, params = self.market, self.now, lane.params
        extremes = second.obi_extremes(market, params.obi_consecutive_readings)
        obi, roc = signal_directions(market, params, extremes=extremes, roc_key=lane.roc_key)
        if obi is None and roc is None and not lane.decisions:
            return  # no signal, no entry, and nobody reads the decision: nothing to do
        signals = second.signals.get((obi, roc))
        if signals is None:
            signals = second.signals[obi, roc] = market_signals(market, now, obi, roc, second.first)
            if second.first is None:
                second.first = signals
                remaining = market.remaining_ms(signals.ticker, now)
                second.features = EntryFeatures(market, now, remaining)
        key = (lane.verdict_key, obi, roc)
        verdict = second.verdicts.get(key)
        if verdict is None:
            verdict = second.verdicts[key] = shared_verdict(
                signals, market, now=now, params=params, features=second.features
            )
        if not verdict.entry_possible and not lane.decisions:
            return  # every lane is blocked before its own rules, and nobody reads why
        decision, order = evaluate_entry(
            lane,
            verdict,
            signals,
            market,
            now=now,
            paused=self.paused or lane.name in self.lanes_paused,
            params=params,
            params_hash=lane.params_hash,
            gate=self.ml_gate,
        )
        if lane.decisions or order is not None:
            out.append(decision)
        if order is not None:
            self._send_entry(lane, order, decision.driver, out)

    def _on_candles(self, candles: list[Candle], out: list[Output]) -> None:
        regime = self.market.regime
        for c in candles:
            out.append(
                CandleClosed(
                    self.now, c.start_ts, c.interval_s, c.open, c.high, c.low, c.close, c.tick_count
                )
            )
            old = regime.regime
            new = regime.on_candle(c)
            self.market.on_candle_closed()
            if new is not None:
                out.append(
                    RegimeChanged(self.now, old, new, regime.atr_pct, regime.smoothed_atr_pct)
                )

    def _evaluate_breaker(self, lane: Lane, out: list[Output]) -> None:
        b = lane.breaker
        key = (b.bankroll, b.peak, b.daily_start, b.weekly_start, b.drawdown_latched)
        if self._breaker_keys.get(lane.name) == key:
            return  # nothing the limits depend on moved since the last evaluation
        self._breaker_keys[lane.name] = key
        before = lane.breaker.reason
        after = lane.breaker.evaluate(lane.params)
        if after != before:
            halts = lane.breaker.halts(live=lane.live, params=lane.params)
            out.append(BreakerChanged(self.now, lane.name, after, halts, lane.breaker.bankroll))
            out.append(self._lane_status(lane))

    def _expire_orders(self, lane: Lane, out: list[Output]) -> None:
        timeout = lane.params.order_timeout_s * 1000
        for order in list(lane.orders.values()):
            age = self.now - order.ts
            if age >= 3 * timeout and not lane.live:
                # The venue never answered: forget the order so the lane is not stuck. A
                # live venue always ends its orders (an unknown outcome is looked up until
                # it is known): forgetting one would drop the fills it then reports.
                out.extend(self._order_done(lane.name, order.client_order_id))
            elif age >= timeout and not order.cancel_sent:
                order.cancel_sent = True
                out.append(CancelOrder(self.now, lane.name, order.client_order_id, "TIMEOUT"))

    # --- events --------------------------------------------------------------------------

    def _on_book_delta(self, event: BookDelta, out: list[Output]) -> None:
        ticker = event.ticker
        market = self.market
        book = market.books.get(ticker) or market.book(ticker)
        book.apply_delta(event.side, event.price, event.delta, event.ts)
        market.last_kalshi_ts = event.ts
        if self._holding:  # most deltas: no position to re-check
            self._book_moved(ticker, out)

    def _on_book_snapshot(self, event: BookSnapshot, out: list[Output]) -> None:
        self.market.book(event.ticker).apply_snapshot(event.yes, event.no, event.ts)
        self.market.last_kalshi_ts = event.ts
        self._book_moved(event.ticker, out)

    def _book_moved(self, ticker: str, out: list[Output]) -> None:
        """Re-check held positions on ``ticker`` whose exit price or mark may have moved.

        Within a second only the executable exit price (the guards, and whether anything
        can be sold) and the mark (the stops and targets: both sides' best prices) can
        change an exit's verdict, so a delta that moves neither is not re-checked.
        """
        holding = self._holding
        if not holding:
            return
        book = self.market.books.get(ticker)
        key = None if book is None else (book.best_yes_bid, book.best_yes_ask)
        marks = self._marks
        for lane in holding:
            position = lane.position
            if position is not None and position.ticker == ticker and key != marks.get(lane.name):
                marks[lane.name] = key
                self._watch(lane, out, per_second=False)

    def _on_spot(self, event: SpotTrade | SpotTicker, out: list[Output]) -> None:
        self._on_candles(self.market.on_spot(event.ts, event.price), out)

    def _on_public_trade(self, event: PublicTrade, out: list[Output]) -> None:
        self.market.on_public_trade(event)

    def _on_status(self, event: MarketStatus, out: list[Output]) -> None:
        contract = self.market.on_status(event, self.now)
        self.market.select_active(self.now)
        if contract.result is not None:
            for lane in self.lanes.values():
                self._settle_if_determined(lane, contract.ticker, out)

    # --- positions -----------------------------------------------------------------------

    def _watch(self, lane: Lane, out: list[Output], *, per_second: bool) -> None:
        assert lane.position is not None
        reason = watch_position(
            self.market, self.now, lane, lane.position, out, per_second=per_second
        )
        if reason and not lane.orders and not self._determined(lane.position.ticker):
            lane.position.exit_reason = lane.position.exit_reason or reason
            self._send_exit(lane, lane.position, out)

    def _determined(self, ticker: str) -> bool:
        """The contract has its result: a position on it waits for its settlement (on an
        exchange, the venue's word); nothing is sold on a closed market."""
        contract = self.market.contracts.get(ticker)
        return contract is not None and contract.result is not None

    def _send_entry(self, lane: Lane, order: PendingOrder, driver: str, out: list[Output]) -> None:
        lane.orders[order.client_order_id] = order
        side: Side = "yes" if order.direction == "LONG" else "no"
        reason = f"{driver} {order.conviction}"
        limit = order.yes_price
        if lane.live:
            # A live entry is a limit IOC a bounded slippage beyond the touch (never a
            # market order): a long pays at most this YES price, a short 10000 − it.
            slip = lane.params.live_entry_slippage
            limit = min(9990, limit + slip) if side == "yes" else max(10, limit - slip)
        out.append(
            PlaceOrder(
                self.now,
                lane.name,
                order.client_order_id,
                order.ticker,
                side,
                limit,
                order.count,
                reason,
            )
        )

    def _send_exit(self, lane: Lane, position: Position, out: list[Output]) -> None:
        if lane.order_in_flight("exit") is not None:
            return
        limit = exit_limit(position.direction)
        order = PendingOrder(
            client_order_id=lane.next_id("kbtc", self.now),
            purpose="exit",
            ticker=position.ticker,
            direction=position.direction,
            count=position.count,
            yes_price=limit,
            ts=self.now,
        )
        lane.orders[order.client_order_id] = order
        side: Side = "yes" if position.long else "no"
        out.append(
            ClosePosition(
                self.now,
                lane.name,
                order.client_order_id,
                position.uid,
                position.ticker,
                side,
                limit,
                position.count,
                position.exit_reason,
            )
        )

    def _entry_fill(
        self,
        lane: Lane,
        order: PendingOrder,
        yes_price: int,
        count: int,
        fee: int,
        now: int,
        out: list[Output],
    ) -> None:
        position = lane.position
        opening = position is None
        if position is None:
            position = Position(
                uid=lane.next_id("pos", now),
                ticker=order.ticker,
                direction=order.direction,
                opened_ts=now,
                driver=order.driver,
                conviction=order.conviction,
                entry_obi=order.entry_obi,
                entry_roc=order.entry_roc,
                regime=order.regime,
                last_telemetry_ts=now,
                entry_client_order_id=order.client_order_id,
                entry_exit_roc=self.market.exit_roc(),
            )
            lane.position = position
            self._positions_moved()
        position.add_entry_fill(yes_price, count, fee)
        if opening:
            out.append(
                position.opened_record(
                    now, lane.name, lane.params_hash, position.entry_client_order_id
                )
            )
            if order.driver != UNKNOWN:  # a restored entry has no features to learn from
                out.append(FeaturesCaptured(now, lane.name, position.uid, order.features))
        else:
            out.append(self._update_record(lane, position, "entry_fill", now))

    def _exit_fill(
        self,
        lane: Lane,
        order: PendingOrder,
        yes_price: int,
        count: int,
        fee: int,
        now: int,
        out: list[Output],
    ) -> None:
        position = lane.position
        if position is None:
            return
        position.exit_client_order_id = order.client_order_id
        position.peak_raised += lane.breaker.apply_pnl(
            position.add_exit_fill(yes_price, count, fee)
        )
        if position.count > 0:
            out.append(self._update_record(lane, position, "exit_fill", now))
        else:
            self._close(lane, position, "venue_ioc", now, out)

    def _settle_if_determined(self, lane: Lane, ticker: str, out: list[Output]) -> None:
        """Settle this lane's position if *its own* contract has a result (never another's);
        on an exchange the venue settles it (``_settle_reported``), having checked the
        account."""
        position = lane.position
        contract = self.market.contracts.get(ticker)
        if position is None or position.ticker != ticker or contract is None:
            return
        if contract.result is None:
            return  # an empty result waits; it is never read as "no" (BUG-022)
        if lane.exchange_run is None:
            self._settle(lane, position, contract.result, "CONTRACT_SETTLED", self.now, out)

    def _settle_reported(self, lane: Lane, settled: PositionSettled) -> list[Output]:
        out: list[Output] = []
        position = lane.position
        if position is not None and position.ticker == settled.ticker:
            now = max(self.now, settled.ts)
            self._settle(lane, position, settled.result, settled.reason, now, out)
        return out

    def _settle(
        self,
        lane: Lane,
        position: Position,
        result: Side,
        reason: str,
        now: int,
        out: list[Output],
    ) -> None:
        """The position ends at $1 a contract if its side won, $0 if not."""
        won = (result == "yes") == position.long
        price = PRICE_MAX if result == "yes" else 0
        position.exit_reason = reason
        position.exit_client_order_id = ""
        position.peak_raised += lane.breaker.apply_pnl(
            position.add_exit_fill(price, position.count, 0)
        )
        for coid in [c for c, o in lane.orders.items() if o.ticker == position.ticker]:
            del lane.orders[coid]  # late fills for a settled contract are ignored
        self._close(lane, position, "settlement_won" if won else "settlement_lost", now, out)

    def _close(
        self,
        lane: Lane,
        position: Position,
        fill_source: str,
        now: int,
        out: list[Output],
        *,
        handed_off: str = "",
    ) -> None:
        """``handed_off``: the venue took the position away (``_correct``): its record is
        quarantined under that reason, with no exit counted and no PnL reversed."""
        quarantine = handed_off or lane.quarantine(position, now, lane.params)
        if quarantine and not handed_off:
            # Quarantined trades leave no trace: neither their PnL nor the peak it raised.
            lane.breaker.reverse(position.realized, position.peak_raised)
        out.append(
            position.closed_record(
                now,
                lane.name,
                fill_source=fill_source,
                quarantine=quarantine,
                params_hash=lane.params_hash,
            )
        )
        lane.position = None
        self._positions_moved()
        lane.last_exit_ts = now
        self._evaluate_breaker(lane, out)
        out.append(self._lane_status(lane))

    def _positions_moved(self) -> None:
        """After a lane's position opened or closed (the only places that set one)."""
        self._holding = [lane for lane in self.lanes.values() if lane.position is not None]

    def _lane_status(self, lane: Lane) -> LaneStatus:
        b = lane.breaker
        cooldown = None
        if lane.last_exit_ts is not None:
            cooldown = lane.last_exit_ts + lane.params.reentry_cooldown_s * 1000
        return LaneStatus(
            self.now,
            lane.name,
            b.bankroll,
            b.peak,
            b.daily_start,
            b.weekly_start,
            loss_fraction(b.peak, b.bankroll),
            loss_fraction(b.daily_start, b.bankroll),
            loss_fraction(b.weekly_start, b.bankroll),
            b.reason,
            b.halts(live=lane.live, params=lane.params),
            cooldown,
            lane.position.uid if lane.position is not None else None,
            lane.params_hash,
        )

    def _market_snapshot(self) -> MarketSnapshot:
        market, now = self.market, self.now
        ticker = market.active
        book = market.books.get(ticker) if ticker else None
        contract = market.contracts.get(ticker) if ticker else None
        history = market.obi.history
        return MarketSnapshot(
            now,
            ticker,
            market.spot,
            contract.strike if contract else None,
            contract.close_ts if contract else None,
            book.best_yes_bid if book else None,
            book.best_yes_ask if book else None,
            book.spread if book else None,
            market.bid_volume if book else 0,
            market.ask_volume if book else 0,
            history[-1] if history else None,
            market.regime.regime,
            market.regime.atr_pct,
        )

    def _update_record(
        self, lane: Lane, position: Position, reason: str, now: int
    ) -> PositionUpdated:
        return PositionUpdated(
            now,
            lane.name,
            position.uid,
            reason,
            position.count,
            None,
            None,
            position.mfe,
            position.mae,
            position.last_health,
            position.cost,
            position.fees,
        )


class _Second:
    """What lanes share within one second's entry evaluation."""

    __slots__ = ("extremes", "features", "first", "signals", "verdicts")

    def __init__(self) -> None:
        self.first: MarketSignals | None = None  # the market part of the signals
        self.features: EntryFeatures | None = None
        # obi_consecutive_readings → the last readings' (lowest, highest), None: too few
        self.extremes: dict[int, tuple[float, float] | None] = {}
        self.signals: dict[tuple[Direction | None, Direction | None], MarketSignals] = {}
        # (verdict key, OBI direction, ROC direction) → verdict
        self.verdicts: dict[tuple[str, Direction | None, Direction | None], SharedVerdict] = {}

    def obi_extremes(self, market: MarketState, n: int) -> tuple[float, float] | None:
        extremes = self.extremes.get(n, _MISSING)
        if extremes is _MISSING:
            extremes = self.extremes[n] = obi_extremes(market.obi.history, n)
        return extremes


class _QuietLanes:
    """What the lanes without decision records (research lanes) have in common, to tell
    in one look that none of them sees a signal this second: then a flat one has nothing
    to evaluate (``_evaluate_entry`` would return at once) and is not asked.

    No lane has an OBI direction in a HIGH regime, nor with less book volume than every
    lane's minimum, nor while the lowest of the last readings is under every lane's long
    threshold and the highest over every short one (``obi_direction``); the ROC direction
    (with no OBI direction) is one per ROC key (``shared_keys``)."""

    __slots__ = ("highest_short", "least_volume", "lowest_long", "readings", "roc")

    def __init__(self, lanes: Iterable[Lane]) -> None:
        quiet = [lane for lane in lanes if not lane.decisions]
        self.readings = sorted({lane.params.obi_consecutive_readings for lane in quiet})
        self.least_volume = min(
            (lane.params.min_book_volume_contracts * 100 for lane in quiet), default=0
        )
        self.lowest_long = min((lane.params.obi_long_threshold for lane in quiet), default=0.0)
        self.highest_short = max((lane.params.obi_short_threshold for lane in quiet), default=1.0)
        self.roc = {lane.roc_key: lane.params for lane in quiet}

    def without_signal(self, market: MarketState, second: _Second) -> bool:
        """True when no quiet lane has an OBI or a ROC direction this second."""
        if not self.roc:
            return False  # no quiet lanes
        obi_possible = market.regime.regime != "HIGH" and market.book_volume >= self.least_volume
        for n in self.readings if obi_possible else ():
            extremes = second.obi_extremes(market, n)
            if extremes is not None and (
                extremes[0] >= self.lowest_long or extremes[1] <= self.highest_short
            ):
                return False
        roc = market.roc_direction
        return all(roc(None, params, key) is None for key, params in self.roc.items())


_MISSING: Any = object()


def _ignore(event: object, out: list[Output]) -> None:
    return None


def _without_first(fills: tuple[Fill, ...], count: int) -> tuple[Fill, ...]:
    """``fills`` without their first ``count`` hundredths (the ones already booked); a fill
    cut in two keeps its share of the fee."""
    out: list[Fill] = []
    for yes_price, filled, fee in fills:
        if count >= filled:
            count -= filled
            continue
        if count > 0:
            left = filled - count
            yes_price, filled, fee, count = yes_price, left, fee * left // filled, 0
        out.append((yes_price, filled, fee))
    return tuple(out)
