"""The paper-trading daemon: feeds → session (engine + paper venue) → persistence, pushes.

One asyncio loop (django-notes.md §2.10). Feed adapters call ``on_event`` for every
normalised event; that call runs the session synchronously (the hot path: no database,
no awaits) and only queues what must leave the process: the recorder's journal, the
persistence writer's rows, the dashboard's payloads (``outbox``). Background tasks drain
those queues, follow the operator controls (``controls``), and touch the heartbeat.
``stop`` (SIGTERM/SIGINT in ``run_trader``) ends the feeds first, then saves the session's
state and drains every queue, so a restart continues where this run stopped; what the
database would not take (an outage at the stop) is spilled to ``KBTC_DATA_DIR`` and applied
by the next ``prepare`` before it restores (``trading.runtime.spill``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from django.conf import settings

from kbtc_site.db import db_call
from marketdata.model.candles import Candle
from marketdata.model.events import Event
from marketdata.recorder import Recorder
from trading import live, selectors
from trading.engine.engine import DEFAULT_BANKROLL
from trading.engine.intents import ClosePosition, PlaceOrder
from trading.engine.params import DEFAULT_PARAMS, ParamError, Params
from trading.engine.records import (
    BreakerChanged,
    Decision,
    PositionClosed,
    PositionOpened,
    PositionUpdated,
)
from trading.runtime import outputs
from trading.runtime.controls import ControlsWatch
from trading.runtime.outbox import Outbox
from trading.runtime.session import Session, SessionOutput, new_session, restored_session
from trading.runtime.spill import spill_apply, spill_lines, spill_save
from trading.runtime.state import count_trade, load_restart, save_state_write, trade_counts
from trading.runtime.writer import PersistWriter, Write
from trading.services.controls import emergency_stop_acknowledge
from trading.services.heartbeat import heartbeat_stop, heartbeat_touch
from trading.services.trades import DecisionLogGate, bankroll_record
from trading.venues.paper import Execution

log = structlog.get_logger(__name__)

EventSink = Callable[[Event], None]
Feed = Callable[[EventSink, asyncio.Event], Coroutine[Any, Any, None]]
CandleSource = Callable[[int], list[Candle]]
SPOT_KINDS = frozenset({"spot_trade", "spot_ticker"})


def tune_gc() -> None:
    """Everything alive after start-up (Django, the warmed-up engine) moves to the
    permanent generation, so the collections that run inside ``on_event`` (an allocation
    triggers them) only walk what the run allocated since."""
    gc.collect()
    gc.freeze()


@dataclass
class DaemonConfig:
    lanes: tuple[str, ...] = ("paper",)
    bankroll: int = DEFAULT_BANKROLL
    latency_ms: int = 200
    base_params: Params = DEFAULT_PARAMS
    warmup_candles: int = 60
    replay_window_ms: int = 12 * 3600 * 1000
    state_save_every_ms: int = 300_000  # event time (domain.md §3.1: state save 5 min)
    equity_every_ms: int = 60_000
    controls_poll_s: float = 1.0
    heartbeat_s: float = 5.0
    publish_every_s: float = 0.2
    spill_dir: Path | None = None  # writes a stop could not make; None: KBTC_DATA_DIR


@dataclass
class _LaneMemory:
    last_decision: Decision | None = None
    entry_coid: dict[str, str] = field(default_factory=dict)  # position uid → entry order
    exit_coid: dict[str, str] = field(default_factory=dict)


class Daemon:
    def __init__(
        self,
        config: DaemonConfig,
        *,
        feeds: Sequence[Feed],
        candles: CandleSource,
        recorder: Recorder | None = None,
        start_ts: int,
        observer: Callable[[Event, list[SessionOutput]], None] | None = None,
    ) -> None:
        self.config = config
        self.feeds = feeds
        self.candles = candles
        self.recorder = recorder
        self.start_ts = start_ts
        self.observer = observer  # tests and the latency bench watch outputs here
        self.writer = PersistWriter()
        self.spill_dir = config.spill_dir or Path(settings.KBTC["DATA_DIR"])
        self.session: Session | None = None
        self.runtime: dict[str, Any] = {}
        self.restored = False
        self.gate = DecisionLogGate()
        self.lanes: dict[str, _LaneMemory] = {name: _LaneMemory() for name in config.lanes}
        self.outbox = Outbox(every_s=config.publish_every_s)
        self.controls_version = -1
        self.controls = selectors.ControlsSnapshot()  # the last control read applied
        self.controls_reads = 0  # completed control reads (tests wait on it)
        self.controls_watch = ControlsWatch(self._on_controls_read, poll_s=config.controls_poll_s)
        self.errors = 0  # events the session raised on (logged, skipped)
        self.orders_unfilled: Counter[str] = Counter()  # "lane:reason" → orders not (fully) filled
        # Since start, for /metrics (Prometheus counters; a restart resets them, as rate() expects)
        self.decisions: Counter[str] = Counter()  # "lane:reason" → evaluations (ENTRY or a skip)
        self.orders: Counter[str] = Counter()  # lane → orders sent to its venue (entries, exits)
        self.fills: Counter[str] = Counter()  # lane → fills its venue reported
        self.params_error = ""  # why the stored overrides could not be applied, "" if they were
        self._last_save_ts = 0
        self._last_equity_ts = 0
        self._last_market_ts = 0
        self._stopping = False
        self._rate_mark: tuple[float, int] | None = None  # (monotonic s, events) at last health

    # --- start ---------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Restore the saved session (replaying recorded events) or start a new one.

        First what the last stop could not store (spilled during an outage) is applied:
        its rows, so the state restored is the one that run stopped with, and its recorded
        events, so the replay that rebuilds the market sees them."""
        await db_call(spill_apply)(self.spill_dir)
        if self.recorder is not None:
            await self.recorder.apply_spills()
        restart = await db_call(load_restart)(
            lanes=self.config.lanes, replay_window_ms=self.config.replay_window_ms
        )
        controls = await db_call(selectors.controls_current)()
        # Invalid overrides at start: the base parameters, never a guess at what was meant.
        params = self._params(controls) or self.config.base_params
        sink = self.recorder.record if self.recorder is not None else None
        if restart is not None:
            warmup = await db_call(self.candles)(restart.warmup_before_ts)
            self.session = restored_session(
                params,
                restart.snapshot,
                latency_ms=self.config.latency_ms,
                warmup=warmup,
                replay=restart.events,
                on_consumed=sink,
            )
            self.runtime = dict(restart.snapshot.get("runtime", {}))
            self.runtime["warmup_before_ts"] = restart.warmup_before_ts
            self.restored = True
            log.info(
                "trader_restored",
                now=self.session.now,
                replayed=len(restart.events),
                lanes={n: lane.breaker.bankroll for n, lane in self.session.engine.lanes.items()},
            )
        else:
            warmup = await db_call(self.candles)(self.start_ts)
            self.session = new_session(
                params,
                lanes=self.config.lanes,
                bankroll=self.config.bankroll,
                latency_ms=self.config.latency_ms,
                warmup=warmup,
                on_consumed=sink,
            )
            self.runtime = {"warmup_before_ts": self.start_ts, "recorder_sessions": []}
            log.info("trader_started", start_ts=self.start_ts, warmup_candles=len(warmup))
        self._apply_controls(controls, first=True)
        self._last_save_ts = self._last_equity_ts = self.session.now

    def _params(self, controls: selectors.ControlsSnapshot) -> Params | None:
        """The base parameters with the stored overrides, or None (logged, and shown on the
        health panel) when they no longer fit: the services validate every override as it
        is written, so this is a row edited behind their back or a bound that has moved."""
        try:
            params = controls.params(self.config.base_params)
        except ParamError as error:
            self.params_error = f"overrides not applied: {error}"
            log.error("overrides_rejected", error=str(error), overrides=controls.overrides)
            return None
        self.params_error = ""
        return params

    # --- the hot path --------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        session = self.session
        if session is None or self._stopping:
            return
        try:
            produced = session.feed(event)
        except Exception:
            self.errors += 1
            log.exception("session_event_failed", kind=event.kind, ts=event.ts)
            return
        if self.observer is not None:
            self.observer(event, produced)
        if event.kind in SPOT_KINDS and session.engine.market.spot is not None:
            self.outbox.on_spot(event.ts, session.engine.market.spot)
        if produced:
            self._dispatch(produced)
        self._periodic(session.now)

    def _dispatch(self, produced: list[SessionOutput]) -> None:
        assert self.session is not None
        params_hash = self.session.engine.params_hash
        for item in produced:
            if isinstance(item, Decision):
                self._on_decision(item)
            elif isinstance(item, PlaceOrder):
                self.orders[item.lane] += 1
                self.lanes[item.lane].entry_coid["pending"] = item.client_order_id
            elif isinstance(item, ClosePosition):
                self.orders[item.lane] += 1
                self.lanes[item.lane].exit_coid[item.position_uid] = item.client_order_id
                self.writer.put(outputs.exit_decision_write(item, params_hash))
            elif isinstance(item, PositionOpened):
                memory = self.lanes[item.lane]
                coid = memory.entry_coid.pop("pending", "")
                self.writer.put(outputs.position_open_write(item, memory.last_decision, coid))
                self._queue_position(item.lane)
            elif isinstance(item, PositionUpdated):
                if item.reason in ("entry_fill", "exit_fill"):
                    lane = self.session.engine.lanes[item.lane]
                    position = lane.position
                    if position is not None:
                        write = outputs.position_update_write(item, position.cost, position.fees)
                        self.writer.put(write)
                self._queue_position(item.lane)
            elif isinstance(item, PositionClosed):
                self._on_closed(item)
            elif isinstance(item, BreakerChanged):
                self._save_state()
                self._queue_equity(item.lane)
            elif isinstance(item, Execution):
                self.fills[item.lane] += len(item.fills)
                if item.reason not in ("filled", "cancelled"):
                    self._on_unfilled(item)

    def _on_unfilled(self, execution: Execution) -> None:
        """An order the paper venue could not (fully) fill: no liquidity, the market no longer
        open, or a partial fill with the rest cancelled (immediate-or-cancel). The engine's
        bookkeeping follows from the fills alone; this makes the refusal visible."""
        self.orders_unfilled[f"{execution.lane}:{execution.reason}"] += 1
        memory = self.lanes[execution.lane]
        if not execution.fills and memory.entry_coid.get("pending") == execution.client_order_id:
            del memory.entry_coid["pending"]  # no position will open from it
        log.warning(
            "order_not_filled",
            lane=execution.lane,
            client_order_id=execution.client_order_id,
            reason=execution.reason,
            requested=execution.requested,
            filled=execution.filled,
            ts=execution.ts,
        )

    def _on_decision(self, decision: Decision) -> None:
        self.lanes[decision.lane].last_decision = decision
        self.decisions[f"{decision.lane}:{decision.reason}"] += 1
        entered = decision.reason == "ENTRY"
        kind = self.gate.kind_for(
            lane=decision.lane,
            ts_ms=decision.ts,
            direction=outputs.direction(decision.direction),
            skip_reason="" if entered else decision.reason,
            conviction=decision.conviction,
            entered=entered,
        )
        if kind is not None:
            self.writer.put(outputs.decision_write(decision, kind))
        self.outbox.put("signal", decision.lane, outputs.signal_payload(decision))

    def _on_closed(self, record: PositionClosed) -> None:
        memory = self.lanes[record.lane]
        coid = memory.exit_coid.pop(record.position_uid, "")
        payload = outputs.trade_payload(record)
        count_trade(self.runtime, record.lane, record.ts)

        def published(_: Any) -> None:  # only once the row is committed (Zulip style)
            self.outbox.put("trade", record.lane, payload)

        self.writer.put(outputs.position_close_write(record, coid, after=published))
        self._save_state()
        self._queue_equity(record.lane, write=True)
        self._queue_position(record.lane)

    # --- periodic work in event time -----------------------------------------------------

    def _periodic(self, now: int) -> None:
        config = self.config
        if now - self._last_save_ts >= config.state_save_every_ms:
            self._save_state()
        if now - self._last_equity_ts >= config.equity_every_ms:
            self._last_equity_ts = now
            for lane in config.lanes:
                self._queue_equity(lane, write=True)
        if now // 1000 != self._last_market_ts // 1000:
            assert self.session is not None
            self._last_market_ts = now
            self.outbox.market(self.session, now)

    def _save_state(self) -> None:
        assert self.session is not None
        self._last_save_ts = self.session.now
        if self.recorder is not None and self.recorder.session_id is not None:
            sessions = self.runtime.setdefault("recorder_sessions", [])
            if self.recorder.session_id not in sessions:
                sessions.append(self.recorder.session_id)
        self.writer.put(save_state_write(self.session, self.runtime))

    def _queue_equity(self, lane_name: str, *, write: bool = False) -> None:
        assert self.session is not None
        breaker = self.session.engine.lanes[lane_name].breaker
        now = self.session.now
        trades = trade_counts(self.runtime, lane_name, now)[0]
        if write:
            self.writer.put(
                Write(
                    bankroll_record,
                    {
                        "lane": lane_name,
                        "ts_ms": now,
                        "bankroll": breaker.bankroll,
                        "peak": breaker.peak,
                        "daily_pnl": breaker.bankroll - breaker.daily_start,
                        "trade_count": trades,
                    },
                )
            )
        self.outbox.equity(lane_name, breaker, now, trades)

    def _queue_position(self, lane_name: str) -> None:
        assert self.session is not None
        self.outbox.position(self.session.engine.lanes[lane_name], self.session.now)

    # --- controls ------------------------------------------------------------------------

    def _apply_controls(self, controls: selectors.ControlsSnapshot, *, first: bool = False) -> None:
        session = self.session
        assert session is not None
        self.controls = controls
        session.set_paused(controls.paused)
        if controls.version != self.controls_version:
            self.controls_version = controls.version
            params = self._params(controls)
            # Invalid overrides keep the parameters the session trades on now: falling back
            # to the base set would silently drop every valid override along with them.
            if params is not None and params.params_hash() != session.engine.params_hash:
                try:
                    session.apply_params(params)
                    log.info("params_applied", params_hash=session.engine.params_hash)
                except ParamError as error:
                    self.params_error = f"parameters not applied: {error}"
                    log.error("params_not_applied", error=str(error))
        handled = self.runtime.setdefault("drawdown_reset_seq", {})
        for lane, seq in controls.drawdown_reset_seq.items():
            if lane in session.engine.lanes and seq > handled.get(lane, 0):
                handled[lane] = seq
                if not first or seq:
                    self._dispatch(session.reset_drawdown(lane))
        if controls.emergency_stop_pending:
            log.warning("emergency_stop", seq=controls.emergency_stop_seq)
            self._dispatch(session.close_all("EMERGENCY_STOP"))
            self.writer.put(
                Write(
                    emergency_stop_acknowledge,
                    {"seq": controls.emergency_stop_seq},
                    critical=True,
                )
            )

    def _on_controls_read(self, controls: selectors.ControlsSnapshot) -> None:
        if self.session is not None and not self._stopping:
            self._apply_controls(controls)
            self.controls_reads += 1

    # --- background ----------------------------------------------------------------------

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        touch = db_call(heartbeat_touch)
        while not stop.is_set():
            try:
                await touch()
            except Exception as exc:
                log.warning("heartbeat_failed", error=str(exc).strip())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.heartbeat_s)

    def health_payload(self) -> dict[str, Any]:
        feeds: list[dict[str, Any]] = []
        for feed in self.feeds:
            health = getattr(feed, "health", None)  # network feeds report their sockets
            if health is not None:
                feeds.extend(health())
        events = self.session.events if self.session else 0
        wall = time.monotonic()
        rate = None
        if self._rate_mark is not None and wall > self._rate_mark[0]:
            rate = round((events - self._rate_mark[1]) / (wall - self._rate_mark[0]), 1)
        self._rate_mark = (wall, events)
        return {
            "ts": self.session.now if self.session else 0,
            "feeds": feeds,
            "db": self.writer.state(),
            "redis": self.outbox.redis_state(),
            "lanes": list(self.config.lanes),
            "events_per_s": rate,
            "event_errors": self.errors,
            "orders_unfilled": dict(self.orders_unfilled),
            "params_error": self.params_error,
            "decisions": dict(self.decisions),
            "orders": dict(self.orders),
            "fills": dict(self.fills),
            "queues": {
                "writer": self.writer.pending,
                "recorder": self.recorder.buffered if self.recorder else 0,
            },
            "writer_lag_s": round(self.writer.lag_s(), 3),
            "writer_dropped": self.writer.dropped,
            "recorder_dropped": self.recorder.dropped if self.recorder else 0,
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: feeds, recorder, writer, controls, heartbeat, publishing."""
        if self.session is None:
            await self.prepare()
        tune_gc()
        inner = asyncio.Event()  # stops the queues only after the feeds and the state save
        async with asyncio.TaskGroup() as group:
            feeds = [group.create_task(feed(self.on_event, stop)) for feed in self.feeds]
            if self.recorder is not None:
                group.create_task(self.recorder.run(inner))
            group.create_task(self.writer.run(inner))
            group.create_task(self.controls_watch.poll(inner))
            group.create_task(self.controls_watch.listen(inner))
            group.create_task(self._heartbeat(inner))
            group.create_task(self.outbox.run(inner, health=self.health_payload))
            await stop.wait()
            self._stopping = True
            for task in feeds:
                task.cancel()
            await asyncio.gather(*feeds, return_exceptions=True)
            self._save_state()
            inner.set()
        await self.writer.flush()
        # A stop must end even with a dependency away: what could not be done is logged.
        publisher = live.default_publisher()
        try:
            # The coalescing publisher may still hold a trailing send: the dashboard's last
            # view of this run is the final one, not whichever preceded it.
            await asyncio.wait_for(self.outbox.publish_pending(publisher), 5.0)
            await asyncio.wait_for(publisher.drain(), 5.0)
        except TimeoutError:
            log.warning("publish_on_stop_timed_out")
        try:
            await db_call(heartbeat_stop)()
        except Exception as exc:
            log.warning("heartbeat_stop_failed", error=str(exc).strip())
        unwritten = self.writer.pending
        if unwritten:
            self._spill_unwritten()
        log.info(
            "trader_stopped",
            now=self.session.now if self.session else None,
            written=self.writer.written,
            dropped=self.writer.dropped,
            unwritten=unwritten,
            failed=self.writer.failed,
            errors=self.errors,
        )

    def _spill_unwritten(self) -> None:
        """The database was away for the whole stop: what is still queued (the final state
        save among it) goes to a spill file the next start applies before it restores."""
        writes = self.writer.unwritten()
        error = self.writer.outage_error
        lines, unspillable = spill_lines(self.writer.take_unwritten())
        try:
            path = spill_save(lines, self.spill_dir) if lines else None
        except OSError as exc:
            log.error(
                "persist_lost_on_stop",
                pending=len(lines) + len(unspillable),
                writes=writes,
                error=f"{error}; spill file: {type(exc).__name__}: {exc}",
            )
            return
        if path is not None:
            log.warning(
                "persist_spilled", count=len(lines), path=str(path), writes=writes, error=error
            )
        if unspillable:
            log.error(
                "persist_lost_on_stop",
                pending=len(unspillable),
                writes=dict(Counter(unspillable)),
                error=error,
            )
