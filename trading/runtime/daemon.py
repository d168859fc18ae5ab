"""The trading daemon: feeds → session (engine + venues) → sinks; wiring and lifecycle.

One asyncio loop (django-notes.md §2.10). Feeds call ``on_event``; it runs the session
synchronously (no database, no awaits) and hands what it produced to the sinks
(``trading.runtime.sinks``), which only queue; their background tasks do the rest, beside
the controls watch. ``stop`` (SIGTERM/SIGINT) ends the feeds, saves the session's state
and closes every sink, so a restart continues where this run stopped (writes the database
would not take are spilled and applied by the next ``prepare``: ``trading.runtime.spill``).
Assemble one with ``trading.runtime.factory.build_daemon``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
from django.conf import settings

from kbtc_core.db import db_call
from marketdata.model.events import Event
from marketdata.recorder import Recorder
from trading import selectors
from trading.engine.params import (
    ParamError,
    Params,
    market_differences,
    with_market_of,
)
from trading.runtime.config import CandleSource, DaemonConfig, Feed, PredictorLoader, tune_gc
from trading.runtime.controls import ControlsWatch
from trading.runtime.health import HealthReport
from trading.runtime.live import LiveControls
from trading.runtime.outbox import Outbox
from trading.runtime.session import (
    Session,
    SessionOutput,
    VenueFactory,
    new_session,
    paper_venues,
    restored_session,
)
from trading.runtime.sinks import Sink
from trading.runtime.sinks.standard import standard_sinks
from trading.runtime.spill import spill_apply
from trading.runtime.state import load_restart
from trading.runtime.writer import PersistWriter, Write
from trading.services.controls import emergency_stop_acknowledge

log = structlog.get_logger(__name__)


class Daemon:
    def __init__(
        self,
        config: DaemonConfig,
        *,
        feeds: Sequence[Feed],
        candles: CandleSource,
        recorder: Recorder | None = None,
        start_ts: int,
        venues: VenueFactory | None = None,
        sinks: Sequence[Sink] = (),
        predictor: PredictorLoader | None = None,
        live: LiveControls | None = None,
    ) -> None:
        self.config = config
        # The live lane's controls and venue (``trading.runtime.live``); None: paper only.
        self.live = live
        # Loads the ML gate's active model (database, blocking; None: no gate model): its
        # predictor, or None and why (the gate then fails open, §7.4).
        self.predictor_loader = predictor
        self.feeds = feeds
        self.candles = candles
        self.recorder = recorder
        self.start_ts = start_ts
        self.venues = venues or paper_venues(config.latency_ms)
        self.writer = PersistWriter()
        self.session: Session | None = None
        # Run facts saved with the session (warm-up boundary, recorder sessions, trade
        # counts, handled operator resets); one dict the sinks share, filled by ``prepare``.
        self.runtime: dict[str, Any] = {}
        self.restored = False
        self.outbox = Outbox(every_s=config.publish_every_s)
        self.persistence, standard = standard_sinks(
            writer=self.writer,
            outbox=self.outbox,
            runtime=self.runtime,
            snapshot=self._snapshot,
            health=self.health_payload,
            state_every_ms=config.state_save_every_ms,
            spill_dir=config.spill_dir or Path(settings.KBTC["DATA_DIR"]),
            heartbeat_s=config.heartbeat_s,
        )
        self.sinks: list[Sink] = [*standard, *sinks]
        self.controls_version = -1
        self.controls = selectors.ControlsSnapshot()  # the last control read applied
        self.controls_reads = 0  # control reads applied (tests wait on it)
        self.controls_watch = ControlsWatch(self._on_controls_read, poll_s=config.controls_poll_s)
        self.errors = 0  # events the session raised on (logged, skipped)
        self.params_error = ""  # why the stored overrides could not be applied, "" if they were
        self.market_params = config.base_params  # the market parameters this run started with
        self.lane_params_hash: dict[str, str] = {}  # lane → hash of the parameters it decides on
        self.params_pending: list[str] = []  # market overrides waiting for the next start
        self._stopping = False
        self.health = HealthReport()

    # --- start ---------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Restore the saved session (replaying recorded events) or start a new one.

        First what the last stop could not store (spilled during an outage) is applied:
        its rows, so the state restored is the one that run stopped with, and its recorded
        events, so the replay that rebuilds the market sees them."""
        await db_call(spill_apply)(self.persistence.spill_dir)
        if self.recorder is not None:
            await self.recorder.apply_spills()
        restart = await db_call(load_restart)(
            lanes=self.config.lanes, replay_window_ms=self.config.replay_window_ms
        )
        controls = await db_call(selectors.controls_current)()
        # Invalid overrides at start: the base parameters, never a guess at what was meant.
        params = self._params(controls) or self.config.base_params
        self.market_params = params
        self.lane_params_hash = {lane: params.params_hash() for lane in self.config.lanes}
        journal = self.recorder.record if self.recorder is not None else None
        if restart is not None:
            warmup = await db_call(self.candles)(restart.warmup_before_ts)
            self.session = restored_session(
                params,
                restart.snapshot,
                venues=self.venues,
                warmup=warmup,
                replay=restart.events,
                on_consumed=journal,
            )
            self.runtime.update(restart.snapshot.get("runtime", {}))
            self.runtime["warmup_before_ts"] = restart.warmup_before_ts
            self.restored = True
            log.info("trader_restored", now=self.session.now, replayed=len(restart.events))
        else:
            warmup = await db_call(self.candles)(self.start_ts)
            self.session = new_session(
                params,
                lanes=self.config.lanes,
                bankroll=self.config.bankroll,
                venues=self.venues,
                warmup=warmup,
                on_consumed=journal,
            )
            self.runtime.update({"warmup_before_ts": self.start_ts, "recorder_sessions": []})
            log.info("trader_started", start_ts=self.start_ts, warmup_candles=len(warmup))
        if self.predictor_loader is not None:
            predictor, error = await db_call(self.predictor_loader)()
            self.session.set_predictor(predictor, error)
        if self.live is not None:
            self.live.venue.start()
        started = self.session.start()
        for sink in self.sinks:
            sink.start(started, restored=self.restored)
        self._apply_controls(controls, first=True)

    def _params(self, controls: selectors.ControlsSnapshot) -> Params | None:
        """The base parameters with the global overrides, or None (logged, and shown on the
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

    def _snapshot(self) -> dict[str, Any]:
        assert self.session is not None
        if self.recorder is not None and self.recorder.session_id is not None:
            sessions = self.runtime.setdefault("recorder_sessions", [])
            if self.recorder.session_id not in sessions:
                sessions.append(self.recorder.session_id)
        return self.session.snapshot(**self.runtime)

    # --- the hot path --------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        session = self.session
        if session is None or self._stopping:
            return
        try:
            produced = session.feed(event)
        except Exception as exc:
            self.errors += 1
            log.exception("session_event_failed", kind=event.kind, ts=event.ts)
            for sink in self.sinks:
                sink.event_failed(event, f"{type(exc).__name__}: {exc}")
            return
        now = session.now
        for sink in self.sinks:
            sink.consume(event, produced, now)

    def _dispatch(self, produced: list[SessionOutput]) -> None:
        """Outputs of an operator control (no event)."""
        assert self.session is not None
        now = self.session.now
        for sink in self.sinks:
            sink.consume(None, produced, now)

    def _apply_controls(self, controls: selectors.ControlsSnapshot, *, first: bool = False) -> None:
        session = self.session
        assert session is not None
        self.controls = controls
        session.set_paused(controls.paused)
        if self.live is not None:
            produced = self.live.apply(controls, session)
            if produced:
                self._dispatch(produced)
        if controls.version != self.controls_version:
            self.controls_version = controls.version
            params = self._params(controls)
            # Invalid overrides keep the parameters the session trades on now: falling back
            # to the base set would silently drop every valid override along with them.
            if params is not None:
                self._apply_params(params, controls)
        handled = self.runtime.setdefault("drawdown_reset_seq", {})
        for lane, seq in controls.drawdown_reset_seq.items():
            if lane in self.config.lanes and seq > handled.get(lane, 0):
                handled[lane] = seq
                if not first or seq:
                    self._dispatch(session.reset_drawdown(lane))
        if controls.emergency_stop_pending:
            log.warning("emergency_stop", seq=controls.emergency_stop_seq)
            self._dispatch(session.close_all("EMERGENCY_STOP"))
            ack = {"seq": controls.emergency_stop_seq}
            self.writer.put(Write(emergency_stop_acknowledge, ack, critical=True))

    def _apply_params(self, params: Params, controls: selectors.ControlsSnapshot) -> None:
        """Each lane's parameters (base ← global overrides ← the lane's own) apply now;
        market parameters shape the market every lane shares, so they wait for the next
        start (and the health panel says so). A lane whose own overrides no longer fit
        keeps the parameters it decides on now; the others still get theirs."""
        assert self.session is not None
        self.params_pending = market_differences(params, self.market_params)
        errors = []
        for lane in self.config.lanes:
            try:
                lane_params = with_market_of(
                    controls.params(self.config.base_params, lane), self.market_params
                )
                digest = lane_params.params_hash()
                if digest == self.lane_params_hash.get(lane):
                    continue
                self._dispatch(self.session.apply_params(lane_params, lane=lane))
            except (ParamError, KeyError) as error:  # KeyError: a lane the session lacks
                errors.append(f"lane {lane}: {error}")
                log.error("params_not_applied", lane=lane, error=str(error))
                continue
            self.lane_params_hash[lane] = digest
            log.info("params_applied", lane=lane, params_hash=digest)
        if errors:
            self.params_error = "parameters not applied: " + "; ".join(errors)

    def _on_controls_read(self, controls: selectors.ControlsSnapshot) -> None:
        if self.session is not None and not self._stopping:
            self._apply_controls(controls)
            self.controls_reads += 1

    # --- background ----------------------------------------------------------------------

    def health_payload(self) -> dict[str, Any]:
        return self.health.report(
            feeds=self.feeds,
            session=self.session,
            sinks=self.sinks,
            lanes=self.config.lanes,
            event_errors=self.errors,
            params_error=self.params_error,
            params_pending=self.params_pending,
            recorder=self.recorder.health() if self.recorder is not None else None,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: feeds, recorder, writer, controls, heartbeat, sinks."""
        if self.session is None:
            await self.prepare()
        tune_gc()
        inner = asyncio.Event()  # stops the queues only after the feeds and the state save
        async with asyncio.TaskGroup() as group:
            feeds = [group.create_task(feed(self.on_event, stop)) for feed in self.feeds]
            if self.recorder is not None:
                group.create_task(self.recorder.run(inner))
            group.create_task(self.controls_watch.poll(inner))
            group.create_task(self.controls_watch.listen(inner))
            for sink in self.sinks:
                group.create_task(sink.run(inner))
            await stop.wait()
            self._stopping = True
            for task in feeds:
                task.cancel()
            await asyncio.gather(*feeds, return_exceptions=True)
            assert self.session is not None
            produced = self.session.venue_reports()  # the engine hears them before its save
            if produced:
                self._dispatch(produced)
            self.persistence.save_state(self.session.now)
            inner.set()
        for sink in self.sinks:
            await sink.close()
        if self.live is not None:
            await self.live.venue.aclose()
            await self.live.venue.rest.aclose()
        log.info(
            "trader_stopped",
            now=self.session.now if self.session else None,
            written=self.writer.written,
            dropped=self.writer.dropped,
            unwritten=self.persistence.unwritten_at_stop,
            failed=self.writer.failed,
            errors=self.errors,
        )
