"""PostgreSQL goes away in the middle of a recorded stream.

The database is made unreachable the way an outage looks to the recorder: new connections
are refused (``ALLOW_CONNECTIONS false``; revoking CONNECT does not stop a superuser) and its
open connections are killed (``pg_terminate_backend``).
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from marketdata.models import RecordingSession
from marketdata.recorder import Recorder, iter_events, session_gaps
from marketdata.tests.factories import market_with_own_orders

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RATE_PER_S = 1_000


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections():
    """The recorder's ORM thread keeps its connection; the test database can't be dropped
    while it is open."""
    yield
    await sync_to_async(connections.close_all)()


async def _emit_with_outage(recorder, events, outage, *, outage_at_s, outage_s):
    """Emit at a steady rate; the database is down from ``outage_at_s`` for ``outage_s``.
    Returns the longest time one ``record`` call took."""
    stop = asyncio.Event()
    writer = asyncio.create_task(recorder.run(stop))
    started = time.monotonic()
    slowest = 0.0
    down = up = False
    per_step = RATE_PER_S // 100
    for index in range(0, len(events), per_step):
        elapsed = time.monotonic() - started
        if not down and elapsed >= outage_at_s:
            await asyncio.to_thread(outage.begin)
            down = True
        if down and not up and elapsed >= outage_at_s + outage_s:
            await asyncio.to_thread(outage.end)
            up = True
        for event in events[index : index + per_step]:
            before = time.perf_counter()
            recorder.record(event)
            slowest = max(slowest, time.perf_counter() - before)
        await asyncio.sleep(0.01)
    assert up, "the stream ended before the outage did"
    stop.set()
    await writer
    return slowest


def _drop_counts_logged(caplog) -> int:
    counted = 0
    for record in caplog.records:
        message = record.msg
        if isinstance(message, dict) and message.get("event") == "recorder_dropped_events":
            counted += message["count"]
        if isinstance(message, dict) and message.get("event") == "recorder_lost_on_close":
            counted += message["lost"]
    return counted


async def _stored(session_id):
    def read():
        try:
            events = list(iter_events(session_id=session_id))
            session = RecordingSession.objects.get(pk=session_id)
            return events, session, session_gaps(session_id)
        finally:
            connections.close_all()

    return await sync_to_async(read)()


async def test_a_ten_second_outage_the_buffer_holds_loses_nothing(outage):
    events = market_with_own_orders(15 * RATE_PER_S, seed=21)
    recorder = Recorder(buffer_bound=50_000, batch_size=500, flush_interval_s=0.2)

    slowest = await _emit_with_outage(recorder, events, outage, outage_at_s=2, outage_s=10)

    assert recorder.flush_errors > 0, "the outage never reached the recorder"
    assert (recorder.emitted, recorder.recorded, recorder.dropped) == (len(events), len(events), 0)
    stored, session, gaps = await _stored(recorder.session_id)
    assert stored == events  # every event, in order
    assert (session.recorded, session.dropped, gaps) == (len(events), 0, [])
    assert slowest < 0.01  # record() never waited on the database


async def test_with_a_tiny_buffer_the_loss_is_exactly_the_counted_and_logged_drops(outage, caplog):
    caplog.set_level(logging.INFO, logger="marketdata.recorder")
    events = market_with_own_orders(7 * RATE_PER_S, seed=22)
    recorder = Recorder(buffer_bound=300, batch_size=100, flush_interval_s=0.1)

    await _emit_with_outage(recorder, events, outage, outage_at_s=1.5, outage_s=3)

    assert recorder.dropped > 1_000  # ~3 s at 1000/s, minus what the buffer held
    assert recorder.recorded + recorder.dropped == recorder.emitted == len(events)
    assert _drop_counts_logged(caplog) == recorder.dropped
    stored, session, gaps = await _stored(recorder.session_id)
    assert len(stored) == recorder.recorded
    assert (session.recorded, session.dropped) == (recorder.recorded, recorder.dropped)
    missing = {seq for first, last in gaps for seq in range(first, last + 1)}
    assert len(missing) == recorder.dropped
    survivors = [event for seq, event in enumerate(events, start=1) if seq not in missing]
    assert stored == survivors  # what was kept is intact and in order


async def _until(condition, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_stop_during_the_outage_spills_and_the_next_start_stores_every_event_once(
    outage, tmp_path
):
    from marketdata.models import RecordedEvent
    from marketdata.recorder.spill import spill_files

    events = market_with_own_orders(4_000, seed=24)  # a prefix of the longer stream
    before, during, after = events[:1_500], events[1_500:3_000], events[3_000:]
    recorder = Recorder(
        batch_size=200, flush_interval_s=0.05, retry_max_s=0.2, spill_dir=tmp_path,
        close_timeout_s=1.0,
    )  # fmt: skip
    stop = asyncio.Event()
    writer = asyncio.create_task(recorder.run(stop))
    for event in before:
        recorder.record(event)
    await _until(lambda: recorder.recorded == len(before))
    await asyncio.to_thread(outage.begin)
    for event in during:
        recorder.record(event)
    await _until(lambda: recorder.flush_errors > 0)
    stop.set()
    await writer  # closes with the database still away

    assert (recorder.recorded, recorder.spilled, recorder.dropped) == (1_500, 1_500, 0)
    assert len(spill_files(tmp_path)) == 1
    await asyncio.to_thread(outage.end)

    second = Recorder(batch_size=200, flush_interval_s=0.05, spill_dir=tmp_path)
    stop = asyncio.Event()
    writer = asyncio.create_task(second.run(stop))
    for event in after:
        second.record(event)
    await _until(lambda: second.recorded == len(after))
    stop.set()
    await writer

    assert spill_files(tmp_path) == []
    stored, session, gaps = await _stored(recorder.session_id)
    assert stored == before + during  # every event once, in order: the round trip is exact
    assert (session.recorded, session.dropped, gaps) == (3_000, 0, [])
    assert session.ended_at is not None
    stored_after, _, _ = await _stored(second.session_id)
    assert stored_after == after
    total = await sync_to_async(RecordedEvent.objects.count)()
    assert total == len(events)
