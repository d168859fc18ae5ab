"""A stop during a PostgreSQL outage loses nothing.

Trades close while the database is away (a real outage: ``ALLOW_CONNECTIONS false`` and
``pg_terminate_backend``, as in ``test_outage_daemon.py``), then the daemon is stopped with
the database still away. Its unwritten rows, the final state save among them, go to a
spill file; the next start, with the database back, applies them before it restores: every
trade is in the ledger once and the lanes' bankroll is the one the stopped daemon had.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections
from structlog.testing import capture_logs

from marketdata.tests.test_recorder_outage import Outage
from trading.models import OpenPosition, Trade
from trading.runtime.spill import spill_files
from trading.runtime.state import trade_counts

from .conftest import BANKROLL, SteppedDaemon
from .reference_run import closes, elapsed_s, entries, uninterrupted_run

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def outage(transactional_db) -> Iterator[Outage]:
    control = Outage(connection.settings_dict["NAME"])
    try:
        yield control
    finally:
        control.end()
        control.admin.close()
        connections.close_all()


async def step_through_outage(sim: SteppedDaemon, seconds: int) -> None:
    """Step without waiting for the writer or the recorder (the database is away)."""
    for _ in range(seconds):
        for event in sim.core.step():
            sim.daemon.on_event(event)
        await asyncio.sleep(0.005)


def ledger() -> tuple[list[str], list[str]]:
    trades = list(Trade.objects.order_by("closed_at").values_list("position_uid", flat=True))
    positions = list(OpenPosition.objects.values_list("position_uid", flat=True))
    return trades, positions


async def test_trades_closed_during_an_outage_survive_a_stop_and_the_restart(
    outage: Outage, tmp_path: Path
) -> None:
    outputs = uninterrupted_run()
    entry_s = elapsed_s(entries(outputs)[0].ts)
    reference_closes = closes(outputs)
    # the outage spans the first two round trips (or the first, if the stream has one)
    last_close_s = elapsed_s(reference_closes[min(1, len(reference_closes) - 1)].ts)

    first = SteppedDaemon()
    first.daemon.spill_dir = tmp_path
    with capture_logs() as logs:
        async with first:
            await first.step_to(entry_s - 30)
            await first.settle()
            await asyncio.to_thread(outage.begin)
            await step_through_outage(first, last_close_s + 20 - first.elapsed_s)
            closed = [record.position_uid for record in closes(first.outputs)]
            assert closed, "no trade closed during the outage"
            # leaving the block stops the daemon (the SIGTERM path) with the database away
        bankroll = first.engine.lanes["paper"].breaker.bankroll
        position = first.engine.lanes["paper"].position
        stopped_now = first.now
    spilled = [entry for entry in logs if entry["event"] == "persist_spilled"]
    assert len(spilled) == 1, [entry["event"] for entry in logs]
    assert spilled[0]["writes"]["position_close"] == len(closed)
    assert not [entry for entry in logs if entry["event"] == "persist_lost_on_stop"]
    assert bankroll != BANKROLL  # the trades moved it

    await asyncio.to_thread(outage.end)

    second = SteppedDaemon()
    second.daemon.spill_dir = tmp_path
    with capture_logs() as logs:
        await second.daemon.prepare()
    applied = [entry for entry in logs if entry["event"] == "persist_spill_applied"]
    assert len(applied) == 1
    assert applied[0]["failed"] == 0
    assert applied[0]["applied"] == spilled[0]["count"]
    assert await asyncio.to_thread(spill_files, tmp_path) == []  # removed once applied

    assert second.daemon.restored
    assert second.now == stopped_now  # the state of the stop, not an older save
    assert second.engine.lanes["paper"].breaker.bankroll == bankroll
    assert trade_counts(second.daemon.runtime, "paper", second.now)[0] == len(closed)
    trades, positions = await sync_to_async(ledger)()
    assert trades == closed  # every trade once, in order
    assert positions == ([position.uid] if position is not None else [])
