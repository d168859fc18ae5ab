"""The trader's heartbeat row: touched every few seconds while it runs, stopped at the end
(``/healthz`` and the dashboard say "not running" when it goes stale). It consumes no
records; it lives with the sinks for their lifecycle."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from kbtc_core.db import db_call
from trading.runtime.sinks.base import Sink
from trading.services.heartbeat import heartbeat_stop, heartbeat_touch

log = structlog.get_logger(__name__)


class HeartbeatSink(Sink):
    name = "heartbeat"

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s

    async def run(self, stop: asyncio.Event) -> None:
        touch = db_call(heartbeat_touch)
        while not stop.is_set():
            try:
                await touch()
            except Exception as exc:
                log.warning("heartbeat_failed", error=str(exc).strip())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every_s)

    async def close(self) -> None:
        try:
            await db_call(heartbeat_stop)()
        except Exception as exc:
            log.warning("heartbeat_stop_failed", error=str(exc).strip())
