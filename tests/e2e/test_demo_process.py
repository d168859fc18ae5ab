"""``manage.py run_demo`` as a real process (the embedded profile, as ``scripts/demo.sh``
runs it): Ctrl-C stops daphne only after the background trader has saved its final state,
the state of the last event it consumed."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _ms(stored: str) -> int:
    when = dt.datetime.fromisoformat(stored).replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def test_ctrl_c_saves_the_demo_traders_final_state(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KBTC_") and k not in ("DATABASE_URL", "REDIS_URL", "PORT")
    }
    env["KBTC_DATA_DIR"] = str(tmp_path)  # the embedded profile: SQLite there
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_demo", "--port", str(_free_port())],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        _wait(lambda: "demo_paper_trader_started" in log_path.read_text(), 120, "the trader")
        time.sleep(8)  # eight simulated minutes at the default 60x: a save every five
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log_path.read_text()
    assert process.returncode == 0, output
    assert "trader_stopped" in output
    assert "Traceback" not in output
    assert "wall_clock_ticks_on" not in output  # the simulator's clock is not the wall's

    with sqlite3.connect(tmp_path / "kbtc.sqlite3") as db:
        (snapshot,) = db.execute(
            "select engine_snapshot from trading_botstate where lane = 'paper'"
        ).fetchone()
        (last_event,) = db.execute("select max(ts) from marketdata_recordedevent").fetchone()
    saved_now = json.loads(snapshot)["engine"]["now"]
    assert saved_now == _ms(last_event)  # the final save, not the last periodic one
