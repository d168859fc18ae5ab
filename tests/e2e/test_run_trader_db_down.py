"""``manage.py run_trader`` started while the database is away: it waits ``KBTC_DB_WAIT_S``
with a log line per refused attempt, then either starts (the database came back) or exits
non-zero with one line naming the database, never a traceback. A spill file it cannot read
(the writes of a stop during an outage) stops the start the same way, naming the line."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path
from subprocess import Popen

import pytest
from django.db import connections

from marketdata.tests.outage import Outage
from trading.selectors import trader_heartbeat

from .processes import current_database_url, start_run_trader

pytestmark = [pytest.mark.slow]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(tmp_path: Path, database_url: str, wait_s: int, log: Path | None = None) -> Popen[str]:
    return start_run_trader(
        tmp_path, database_url=database_url, log=log, env={"KBTC_DB_WAIT_S": str(wait_s)}
    )


def test_with_no_database_it_waits_then_exits_with_one_line_naming_it(tmp_path: Path) -> None:
    port = closed_port()
    started = time.monotonic()
    process = _start(tmp_path, f"postgres://postgres@127.0.0.1:{port}/kbtc_nowhere", wait_s=4)
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    elapsed = time.monotonic() - started

    assert process.returncode != 0, output
    assert "Traceback" not in output
    assert output.count("database_unavailable") >= 2  # one line per refused attempt
    last = output.strip().splitlines()[-1]
    assert last.startswith(
        f"CommandError: run_trader: the database (PostgreSQL 'kbtc_nowhere' at 127.0.0.1:{port})"
        " is unreachable after"
    ), last
    assert "KBTC_DB_WAIT_S" in last
    assert 4 <= elapsed < 40


def _wait_for_output(log: Path, text: str, timeout_s: float) -> str:
    """The process's output so far, once it holds ``text``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        output = log.read_text()
        if text in output:
            return output
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} in the output:\n{log.read_text()}")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_database_back_within_the_wait_is_used_and_trading_starts(
    tmp_path: Path, outage: Outage
) -> None:
    url = current_database_url()
    log = tmp_path / "run_trader.log"
    outage.begin()
    process = _start(tmp_path, url, wait_s=60, log=log)
    try:
        waiting = _wait_for_output(log, "database_unavailable", 60)
        assert "not currently accepting connections" in waiting
        outage.end()
        connections.close_all()  # this thread's connection was killed by the outage
        assert "(restored: False)" in _wait_for_output(log, "run_trader: paper trading", 90)
        deadline = time.monotonic() + 60
        while trader_heartbeat()["state"] != "running":
            assert time.monotonic() < deadline, "the trader never ran"
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    output = log.read_text()
    assert process.returncode == 0, output
    assert "Traceback" not in output


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        (  # the daemon's rows
            "persist-spill-000001.jsonl",
            '{"format": 1, "db": "x", "write": "state_save", "kwargs": {"rows": []}}\n{',
            2,
        ),
        ("recorder-spill-000001.jsonl", "{", 1),  # the recorder's events
    ],
)
def test_a_spill_file_it_cannot_read_stops_the_start_naming_the_file_and_the_line(
    tmp_path: Path, name: str, text: str, line: int
) -> None:
    url = current_database_url()
    spill = tmp_path / name
    spill.write_text(text)
    process = _start(tmp_path, url, wait_s=5)
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode != 0, output
    assert "Traceback" not in output
    last = output.strip().splitlines()[-1]
    assert last.startswith(f"CommandError: spill file {spill}, line {line}: not JSON"), last
    assert spill.exists()
