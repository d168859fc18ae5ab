"""The trader's self-report for the ``health`` topic (``trading.push``) and ``/healthz``:
each feed's sockets, the events per second since the last report, and what every sink
says of itself (database writes, Redis publishes, unfilled orders…)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from trading.runtime.session import Session
from trading.runtime.sinks import Sink


class HealthReport:
    def __init__(self) -> None:
        self._mark: tuple[float, int] | None = None  # (monotonic s, events) at the last report

    def report(
        self,
        *,
        feeds: Sequence[object],
        session: Session | None,
        sinks: Sequence[Sink],
        lanes: Sequence[str],
        event_errors: int,
        params_error: str,
        params_pending: Sequence[str] = (),
        recorder: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        sockets: list[dict[str, Any]] = []
        for feed in feeds:
            health = getattr(feed, "health", None)  # network feeds report their sockets
            if health is not None:
                sockets.extend(health())
        events = session.events if session else 0
        wall = time.monotonic()
        rate = None
        if self._mark is not None and wall > self._mark[0]:
            rate = round((events - self._mark[1]) / (wall - self._mark[0]), 1)
        self._mark = (wall, events)
        payload: dict[str, Any] = {
            "ts": session.now if session else 0,
            "feeds": sockets,
            "lanes": list(lanes),
            "events_per_s": rate,
            "event_errors": event_errors,
            "params_error": params_error,
            # market parameters overridden since the start: they apply at the next one
            "params_pending_restart": list(params_pending),
            # the journal's queue depth, lag and drops (marketdata.recorder.writer)
            "recorder": recorder,
            "recorder_dropped": (recorder or {}).get("dropped", 0),
            # the ML gate's model and what it did (fail-open counted, §7.4)
            "ml_gate": session.engine.ml_gate.health() if session else None,
        }
        queues = {"recorder": (recorder or {}).get("buffered", 0)}
        for sink in sinks:
            payload.update(sink.health())
        payload["queues"] = {**queues, **payload.pop("queues", {})}
        return payload
