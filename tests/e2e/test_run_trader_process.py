"""``manage.py run_trader`` as a real process: SIGTERM stops it cleanly with its state saved,
and the next start restores that state instead of starting over."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from trading.models import BotState
from trading.selectors import trader_heartbeat

from .processes import start_run_trader

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _has_saved_state() -> bool:
    state = BotState.objects.filter(lane="paper").first()
    return state is not None and bool(state.engine_snapshot)


def _run_until_sigterm(tmp_path: Path, simulated_s: int) -> str:
    process = start_run_trader(tmp_path)
    try:
        _wait(lambda: trader_heartbeat()["state"] == "running", 90, "the trader's heartbeat")
        _wait(_has_saved_state, 90, "a saved state")
        time.sleep(simulated_s / 600)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    return output


def test_sigterm_stops_cleanly_and_the_next_start_restores(tmp_path: Path) -> None:
    first = _run_until_sigterm(tmp_path, simulated_s=600)
    assert "(restored: False)" in first
    assert "Traceback" not in first
    assert trader_heartbeat() == {"state": "not running"}
    saved = BotState.objects.get(lane="paper")
    saved_now = saved.engine_snapshot["engine"]["now"]

    second = _run_until_sigterm(tmp_path, simulated_s=300)
    assert "(restored: True)" in second
    assert "Traceback" not in second
    resumed = BotState.objects.get(lane="paper").engine_snapshot["engine"]["now"]
    assert resumed > saved_now  # it went on from where it stopped, not from the start
