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
read, so ``on_event`` only lets them move the clock.
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
)
from trading.engine.intents import CancelOrder, ClosePosition, Intent, PlaceOrder
from trading.engine.lane import Lane, LaneSpec, PendingOrder, Position
from trading.engine.market import MarketState
from trading.engine.mlgate import MlGate
from trading.engine.params import ParamError, Params, market_differences
from trading.engine.position_watch import watch_position
from trading.engine.records import (
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

Output = Intent | Record
Fill = tuple[int, int, int]  # (YES price units, count hundredths, fee micro-dollars)
SNAPSHOT_VERSION = 1
DEFAULT_BANKROLL = 1_000_000_000  # $1000, the original's INITIAL_BANKROLL


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

    def on_report(self, lane: str, report: OwnFill | OrderUpdate) -> list[Output]:
        """A venue's report on one of ``lane``'s orders, as an exchange account sends it: a
        fill opens, grows, shrinks or closes the position; an order that is no longer
        working (executed, or its remainder cancelled) is over, and nothing more fills."""
        if isinstance(report, OwnFill):
            fill = (report.yes_price, report.count, report.fee)
            return self._fill(lane, report.client_order_id, (fill,), report.ts)
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

    # --- controls ------------------------------------------------------------------------

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
        return engine

    # --- per second ----------------------------------------------------------------------

    def _on_second(self, out: list[Output]) -> None:
        market, now = self.market, self.now
        self._on_candles(market.advance_candles(now), out)
        market.select_active(now, force=False)
        market.sample_second(now)
        second = _Second()
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
            elif not lane.orders:
                self._evaluate_entry(lane, second, out)
        minute = now // 60_000
        if minute != self._minute:
            self._minute = minute
            out.extend(self._lane_status(lane) for lane in self.lanes.values())
        if self.market_snapshots:
            out.append(self._market_snapshot())

    def _evaluate_entry(self, lane: Lane, second: _Second, out: list[Output]) -> None:
        """A flat lane's entry evaluation; lanes that decide with the same parameters share
        this second's signals and verdict."""
        market, now, params = self.market, self.now, lane.params
        key = id(params)
        signals = second.signals.get(key)
        if signals is None:
            signals = second.signals[key] = market_signals(market, now, params, second.first)
            if second.first is None:
                second.first = signals
                remaining = market.remaining_ms(signals.ticker, now)
                second.features = EntryFeatures(market, now, remaining)
        if not lane.decisions and signals.obi is None and signals.roc is None:
            return  # no signal, no entry, and nobody reads the decision: nothing to do
        verdict = second.verdicts.get(key)
        if verdict is None:
            verdict = second.verdicts[key] = shared_verdict(
                signals, market, now=now, params=params, features=second.features
            )
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
        for lane in self.lanes.values():
            position = lane.position
            if position is not None and position.ticker == ticker:
                book = self.market.books.get(ticker)
                key = None if book is None else (book.best_yes_bid, book.best_yes_ask)
                if key != self._marks.get(lane.name):
                    self._marks[lane.name] = key
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
        if reason and not lane.orders:
            lane.position.exit_reason = lane.position.exit_reason or reason
            self._send_exit(lane, lane.position, out)

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
        position.add_entry_fill(yes_price, count, fee)
        if opening:
            out.append(
                position.opened_record(
                    now, lane.name, lane.params_hash, position.entry_client_order_id
                )
            )
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
        """Settle this lane's position if *its own* contract has a result (never another's)."""
        position = lane.position
        contract = self.market.contracts.get(ticker)
        if position is None or position.ticker != ticker or contract is None:
            return
        if contract.result is None:
            return  # an empty result waits; it is never read as "no" (BUG-022)
        won = (contract.result == "yes") == position.long
        price = PRICE_MAX if contract.result == "yes" else 0
        position.exit_reason = "CONTRACT_SETTLED"
        position.exit_client_order_id = ""
        position.peak_raised += lane.breaker.apply_pnl(
            position.add_exit_fill(price, position.count, 0)
        )
        for coid in [c for c, o in lane.orders.items() if o.ticker == ticker]:
            del lane.orders[coid]  # late fills for a settled contract are ignored
        self._close(lane, position, "settlement_won" if won else "settlement_lost", self.now, out)

    def _close(
        self, lane: Lane, position: Position, fill_source: str, now: int, out: list[Output]
    ) -> None:
        quarantine = lane.quarantine(position, now, lane.params)
        if quarantine:
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
        lane.last_exit_ts = now
        self._evaluate_breaker(lane, out)
        out.append(self._lane_status(lane))

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
    """What lanes share within one second's evaluation (by parameter set)."""

    __slots__ = ("features", "first", "signals", "verdicts")

    def __init__(self) -> None:
        self.first: MarketSignals | None = None  # the market part of the signals
        self.features: EntryFeatures | None = None
        self.signals: dict[int, MarketSignals] = {}
        self.verdicts: dict[int, SharedVerdict] = {}


def _ignore(event: object, out: list[Output]) -> None:
    return None
