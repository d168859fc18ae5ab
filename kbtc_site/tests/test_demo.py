"""The demo's background trader stops like ``run_trader`` on SIGTERM: cancelled (daphne's
shutdown), it still stops its feeds, saves its final state and drains its queues."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from kbtc_core.db import db_call
from kbtc_site import demo
from marketdata.sim.core import SimCore
from marketdata.sim.prices import history_candles
from marketdata.sim.stream import history_for
from trading.models import BotState
from trading.runtime.daemon import DaemonConfig
from trading.runtime.factory import build_daemon
from trading.selectors import trader_heartbeat

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SEED = 7
START = 1_767_225_600_000  # 2026-01-01 00:00 UTC


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections() -> AsyncIterator[None]:
    yield
    await sync_to_async(connections.close_all)()  # where db_call opened them


async def test_a_cancelled_trader_job_saves_its_final_state_before_it_ends() -> None:
    history = history_for(SEED, START, 30)
    core = SimCore(seed=SEED, start_ts=START, history=history)
    daemon = build_daemon(
        DaemonConfig(),
        feeds=[],
        candles=lambda before: history_candles(history, before, count=60),
        start_ts=START,
    )
    await daemon.prepare()
    job = asyncio.create_task(demo.run_until_cancelled(daemon))
    for event in core.initial_events():
        daemon.on_event(event)
    for _ in range(400):  # periodic saves come every 300 simulated s: the last is behind
        for event in core.step():
            daemon.on_event(event)
        await asyncio.sleep(0)
    assert daemon.session is not None
    final_now = daemon.session.now

    await demo.stop_jobs([job])

    assert job.cancelled()
    state = await db_call(BotState.objects.get)(lane="paper")
    assert state.engine_snapshot["engine"]["now"] == final_now
    assert daemon.writer.pending == 0
    assert await db_call(trader_heartbeat)() == {"state": "not running"}


async def test_stopping_jobs_waits_for_each_and_reports_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    finished: list[str] = []

    async def tidy() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.01)  # a shutdown that takes a moment
            finished.append("tidy")

    async def broken() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            raise RuntimeError("boom")

    jobs = [asyncio.create_task(tidy()), asyncio.create_task(broken(), name="broken")]
    await asyncio.sleep(0)
    await demo.stop_jobs(jobs)
    assert finished == ["tidy"]
    assert all(job.done() for job in jobs)
    assert "demo_job_failed" in caplog.text
