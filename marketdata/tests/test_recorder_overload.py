"""Overload: events arrive faster than the database stores them. The recorder drops what
its buffer cannot hold (documented in ``marketdata.recorder.writer``), never silently: its
``health()`` says the buffer depth, the lag in market time and the drops, while it happens
and after, and the journal's gaps are exactly the dropped events."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from marketdata.models import RecordingSession
from marketdata.recorder import Recorder, session_gaps
from marketdata.tests.factories import market_with_own_orders

pytestmark = pytest.mark.django_db(transaction=True)

BOUND = 1_000


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


async def _until(condition, within_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.02)


async def test_an_overload_is_reported_while_it_drops_and_after_it_has_drained():
    stream = market_with_own_orders(12_000, seed=5)
    recorder = Recorder(buffer_bound=BOUND, batch_size=200, flush_interval_s=0.05)
    stop = asyncio.Event()
    writer = asyncio.create_task(recorder.run(stop))
    try:
        # A burst the writer never gets a turn in: the fastest possible overload.
        for event in stream[:6_000]:
            recorder.record(event)
        during = recorder.health()
        assert during["dropping"] is True
        assert (during["buffered"], during["buffer_bound"]) == (BOUND, BOUND)
        assert during["dropped"] == 6_000 - BOUND
        # nothing stored yet: from the first event waiting to the newest handed over
        assert during["lag_s"] == round((stream[5_999].ts - stream[0].ts) / 1000, 1)

        await _until(lambda: recorder.buffered == 0)
        drained = recorder.health()
        assert (drained["dropping"], drained["buffered"], drained["lag_s"]) == (False, 0, 0.0)
        assert drained["dropped"] == 6_000 - BOUND  # still said after the overload is over
        assert drained["recorded"] == BOUND

        # Then a pace the writer keeps up with (never more than half the buffer waiting):
        # nothing more is lost.
        for index, event in enumerate(stream[6_000:], start=1):
            recorder.record(event)
            if index % 100 == 0:
                await _until(lambda: recorder.buffered <= BOUND // 2)
    finally:
        stop.set()
        await writer

    assert recorder.dropped == 6_000 - BOUND
    assert recorder.recorded + recorder.dropped == recorder.emitted == len(stream)
    session_id = recorder.session_id
    assert session_id is not None
    session = await sync_to_async(RecordingSession.objects.get)(pk=session_id)
    gaps = await sync_to_async(session_gaps)(session_id)
    assert session.dropped == recorder.dropped
    assert gaps == [(BOUND + 1, 6_000)]  # the dropped sequence numbers, missing in the journal


async def test_a_buffer_that_is_filling_shows_its_depth_and_lag_before_any_drop():
    stream = market_with_own_orders(800, seed=6)
    recorder = Recorder(buffer_bound=BOUND, batch_size=200)
    for event in stream:
        recorder.record(event)
    health = recorder.health()
    assert (health["dropping"], health["dropped"], health["buffered"]) == (False, 0, 800)
    assert health["lag_s"] == round((stream[-1].ts - stream[0].ts) / 1000, 1) > 0
