"""Recorder throughput: a fixed simulator stream through ``Recorder`` into the database.

Timed from the first ``record`` to ``close`` returning with every event stored (journal rows
by COPY on PostgreSQL plus the derived candles, snapshots, trades and markets). The run uses
a throwaway database (``bench_<name>``, created and migrated first, dropped after), never
the configured one. The stored stream is read back and must hash to the generated one.
Reports ``events_per_second`` (interfaces.md §10; target ≥ 20,000 on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import django

SEED = 20260101
START_TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTES = 480
SMOKE_MINUTES = 30
YIELD_EVERY = 1_000  # the producer lets the writer run, as a live feed would


async def _record(events: list[Any], batch_size: int) -> tuple[float, Any]:
    from asgiref.sync import sync_to_async
    from django.db import connections

    from marketdata.recorder import Recorder

    recorder = Recorder(buffer_bound=len(events) + 1, batch_size=batch_size, flush_interval_s=0.05)
    stop = asyncio.Event()
    started = time.perf_counter()
    writer = asyncio.create_task(recorder.run(stop))
    for index, event in enumerate(events, start=1):
        recorder.record(event)
        if index % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    while recorder.buffered and not writer.done():  # noqa: ASYNC110 - polls a counter
        await asyncio.sleep(0.005)
    stop.set()
    await writer
    seconds = time.perf_counter() - started
    await sync_to_async(connections.close_all)()  # the ORM thread's connection
    return seconds, recorder


def run(*, smoke: bool) -> dict[str, Any]:
    django.setup()
    from django.db import connection, connections

    from marketdata.recorder import iter_events
    from marketdata.sim.stream import generate_events, stream_sha256

    minutes = SMOKE_MINUTES if smoke else MINUTES
    events = list(generate_events(SEED, START_TS, minutes))
    digest, count = stream_sha256(events)
    settings_dict = connection.settings_dict
    configured_name = settings_dict["NAME"]
    settings_dict["TEST"] = {
        **settings_dict.get("TEST", {}),
        "NAME": f"bench_{settings_dict['NAME']}",
    }
    if connection.vendor == "sqlite":
        settings_dict["TEST"]["NAME"] = ":memory:"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        batch_size = 5_000
        seconds, recorder = asyncio.run(_record(events, batch_size))
        stored_digest, stored = stream_sha256(iter_events(session_id=recorder.session_id))
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(configured_name, verbosity=0)
    if (stored, stored_digest) != (count, digest) or recorder.dropped:
        raise SystemExit(
            f"recorder bench: stored {stored} of {count} events, or a different stream"
        )
    return {
        "events": count,
        "seconds": round(seconds, 4),
        "stream_sha256": digest,
        "events_per_second": round(count / seconds),
        "minutes": minutes,
        "database": connection.vendor,
        "batch_size": batch_size,
        "flush_errors": recorder.flush_errors,
    }
