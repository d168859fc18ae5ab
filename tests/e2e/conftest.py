"""Shared e2e helpers: a daemon whose only feed is the test (a stepped simulated clock).

The test steps the simulator's core one simulated second at a time and hands each second's
events to ``Daemon.on_event`` in the core's own order, so runs are deterministic. While the
clock is stepped, the daemon's background tasks (writer, recorder, controls, publishing)
run on the same loop between steps.

Async code reaches the ORM on asgiref's one shared thread (``db_call``, ``sync_to_async``),
whose connections outlive the test that opened them; every e2e test closes them there at
teardown, or the test database cannot be dropped at the end of the run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from marketdata.model.events import Event
from marketdata.recorder import Recorder
from marketdata.sim.core import SimCore
from marketdata.sim.prices import history_candles
from marketdata.sim.stream import history_for
from trading.engine.engine import Engine
from trading.runtime.daemon import DaemonConfig
from trading.runtime.factory import build_daemon
from trading.runtime.session import SessionOutput
from trading.runtime.sinks import Observer

SEED = 7
START = 1_767_225_600_000  # 2026-01-01 00:00 UTC (synthetic path, seed 7: trades within 4 h)
LATENCY = 200
BANKROLL = 1_000_000_000


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections() -> AsyncIterator[None]:
    yield
    await sync_to_async(connections.close_all)()


class SteppedDaemon:
    """``async with SteppedDaemon() as sim:`` runs a daemon fed by ``await sim.step(n)``."""

    def __init__(
        self,
        *,
        seed: int = SEED,
        start: int = START,
        minutes: int = 240,
        lanes: tuple[str, ...] = ("paper",),
    ) -> None:
        self.start = start
        self.history = history_for(seed, start, minutes)
        self.core = SimCore(seed=seed, start_ts=start, history=self.history)
        self.outputs: list[SessionOutput] = []
        self.daemon = build_daemon(
            DaemonConfig(latency_ms=LATENCY, bankroll=BANKROLL, lanes=lanes),
            feeds=[],
            candles=lambda before: history_candles(self.history, before, count=60),
            recorder=Recorder(label="e2e", flush_interval_s=0.05),
            start_ts=start,
            sinks=[Observer(self._observe)],
        )
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _observe(self, event: Event | None, produced: Sequence[SessionOutput]) -> None:
        self.outputs.extend(produced)

    @property
    def now(self) -> int:
        """The daemon's simulated time (ms)."""
        assert self.daemon.session is not None
        return self.daemon.session.now

    @property
    def engine(self) -> Engine:
        assert self.daemon.session is not None
        return self.daemon.session.engine

    @property
    def elapsed_s(self) -> int:
        return (self.now - self.start) // 1000

    async def __aenter__(self) -> SteppedDaemon:
        await self.daemon.prepare()
        self._task = asyncio.create_task(self.daemon.run(self._stop))
        for event in self.core.initial_events():
            self.daemon.on_event(event)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task
        assert self.daemon.errors == 0

    async def step(self, seconds: int = 1) -> None:
        daemon = self.daemon
        assert daemon.recorder is not None
        for _ in range(seconds):
            for event in self.core.step():
                daemon.on_event(event)
            # A stepped clock waits for the consumer: let the recorder and the writer keep
            # up, as they do live, where a simulated second lasts a wall second.
            await asyncio.sleep(0)
            while daemon.recorder.buffered > 4000 or daemon.writer.pending > 1000:  # noqa: ASYNC110
                await asyncio.sleep(0.01)

    async def step_to(self, elapsed_s: int) -> None:
        """Step until the simulated clock is ``elapsed_s`` seconds past the start."""
        await self.step(max(0, self.start // 1000 + elapsed_s - self.core.second))

    async def control(self, call: Callable[[], Any]) -> Any:
        """Run one operator control (sync: a service or an API request), wait for the
        daemon's next control read with the clock held, then advance it one simulated
        second: live, the read comes on the announcement or within the second's poll.

        A read that was in flight when the control committed may have missed it; the
        second read after the call started after the commit (the ORM thread is one FIFO
        queue), so it sees the change.
        """
        reads = self.daemon.controls_reads
        result = await sync_to_async(call)()
        await self.wait_for(lambda: self.daemon.controls_reads >= reads + 2, "a control read")
        await self.step(1)
        return result

    async def wait_for(
        self, condition: Callable[[], bool], what: str, within_s: float = 5.0
    ) -> None:
        """Wait in wall time, without stepping the simulated clock."""
        deadline = time.monotonic() + within_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {within_s} s")
            await asyncio.sleep(0.01)

    async def settle(self) -> None:
        """Every queued database write done (the writer runs on the loop)."""
        await self.wait_for(lambda: self.daemon.writer.pending == 0, "the writer to drain")
        await self.daemon.writer.flush()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium (``tests/e2e/browser.py``), closed after the test."""
    from .browser import chromium

    with chromium(tmp_path / "chromium") as driver:
        yield driver
