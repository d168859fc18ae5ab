"""A stop during a PostgreSQL outage loses nothing.

Trades close while the database is away (a real outage: ``ALLOW_CONNECTIONS false`` and
``pg_terminate_backend``, as in ``test_outage_daemon.py``), then the daemon is stopped with
the database still away. Its unwritten rows, the final state save among them, go to a
spill file; the next start, with the database back, applies them before it restores: every
trade is in the ledger once and the lanes' bankroll is the one the stopped daemon had.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from structlog.testing import capture_logs

from marketdata.tests.outage import Outage
from trading.models import OpenPosition, Trade
from trading.runtime.spill import spill_files
from trading.runtime.state import trade_counts

from .conftest import BANKROLL, SteppedDaemon
from .processes import start_run_trader
from .reference_run import closes, elapsed_s, entries, uninterrupted_run

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


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
    first.daemon.persistence.spill_dir = tmp_path
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
    second.daemon.persistence.spill_dir = tmp_path
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


# --- the same through ``manage.py run_trader`` (a real SIGTERM) ---------------------------


def _wait_for_output(log: Path, text: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        output = log.read_text()
        if text in output:
            return output
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} in the output:\n{log.read_text()}")


def _logged_int(output: str, event: str, field: str) -> int:
    line = next(line for line in output.splitlines() if f"] {event} " in line)
    match = re.search(rf"\b{field}=(\d+)", line)
    assert match, line
    return int(match.group(1))


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=90)


@pytest.mark.usefixtures("transactional_db")
def test_run_trader_stopped_during_an_outage_restarts_from_the_state_it_stopped_with(
    outage: Outage, tmp_path: Path
) -> None:
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    process = start_run_trader(tmp_path, log=first_log)
    try:
        _wait_for_output(first_log, "run_trader: paper trading", 90)
        time.sleep(3)  # half an hour of simulated trading at 600×
        outage.begin()
        time.sleep(4)  # forty simulated minutes with the database away
        _stop(process)
    finally:
        if process.poll() is None:
            process.kill()
    first = first_log.read_text()
    assert process.returncode == 0, first
    assert "persist_spilled" in first, first
    assert "persist_lost_on_stop" not in first
    spilled = _logged_int(first, "persist_spilled", "count")
    stopped_now = _logged_int(first, "trader_stopped", "now")

    outage.end()
    connections.close_all()
    process = start_run_trader(tmp_path, log=second_log)
    try:
        second = _wait_for_output(second_log, "run_trader: paper trading", 90)
        _stop(process)
    finally:
        if process.poll() is None:
            process.kill()
    second = second_log.read_text()
    assert process.returncode == 0, second
    assert "Traceback" not in first + second
    assert _logged_int(second, "persist_spill_applied", "applied") == spilled
    assert _logged_int(second, "persist_spill_applied", "failed") == 0
    assert "(restored: True)" in second
    assert _logged_int(second, "trader_restored", "now") == stopped_now
    assert spill_files(tmp_path) == []
