"""``run_trader`` killed (SIGKILL, no chance to save) right after an entry: the restart
knows the position it holds and later closes it normally, once (issue #15, point 2: the
state used to be saved at closes only, and the open-position row was orphaned)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from trading.models import BotState, OpenPosition, Trade

from .processes import start_run_trader

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _wait(condition: Callable[[], object], timeout_s: float, what: str) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _saved_position_uid() -> str | None:
    state = BotState.objects.filter(lane="paper").first()
    if state is None or not state.engine_snapshot:
        return None
    position = state.engine_snapshot["engine"]["lanes"]["paper"]["position"]
    return position["uid"] if position else None


def test_a_trader_killed_right_after_an_entry_restarts_holding_it_and_closes_it_once(
    tmp_path: Path,
) -> None:
    first = start_run_trader(tmp_path, log=tmp_path / "first.log")
    try:
        row = _wait(lambda: OpenPosition.objects.first(), 240, "an entry row")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert isinstance(row, OpenPosition)
    uid = row.position_uid
    # what the killed trader committed with the row: the state that holds the position
    assert _saved_position_uid() == uid
    assert not Trade.objects.filter(position_uid=uid).exists()

    second = start_run_trader(tmp_path, log=tmp_path / "second.log")
    try:
        _wait(lambda: Trade.objects.filter(position_uid=uid).exists(), 240, "the close")
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=90)
    finally:
        if second.poll() is None:
            second.kill()
    output = (tmp_path / "second.log").read_text()
    assert "(restored: True)" in output, output[-2000:]
    assert "Traceback" not in output, output[-4000:]
    trade = Trade.objects.get(position_uid=uid)
    assert trade.exit_reason
    assert not OpenPosition.objects.filter(position_uid=uid).exists()
