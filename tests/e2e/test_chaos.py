"""The short chaos pass CI runs (``manage.py chaos --kills 2``): ``run_trader --live`` as a
process against the simulator this test hosts, killed with SIGKILL twice at each state and
restarted, then checked against the simulator's account.

Hard assertions: two kills at OPEN, reconciling, EXITING, ENTERING and settling (the
settling campaign holds the lane's positions to their close: ``HOLD_TO_CLOSE``); no
duplicate order or trade, no exit order for a market the account held nothing on, no
untracked position, no orphan on a market no kill touched, the stored trades' money equal
to the account's fills and settlements to the micro-dollar, the live bankroll equal to the
exchange balance, and no failed check. The promotion gates are the canary's
(``test_canary.py``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from trading.chaos.harness import RunOptions, run_live

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.timeout(900)  # about a wall minute idle; CI runs it beside the embedded suite
def test_two_kills_at_every_state_leave_the_account_clean(tmp_path: Path):
    report = asyncio.run(
        run_live(RunOptions(data_dir=tmp_path, hours=4, kills=2, breakers_off=True))
    )
    summary = report.summary()
    print(f"\nchaos: {summary}")
    for state in ("OPEN", "reconciling", "EXITING", "ENTERING", "settling"):
        assert report.kills[state] == 2, (state, report.kill_log)
    assert report.held_to_close_from  # the settling campaign's overrides were set
    assert report.account is not None
    assert report.account.duplicate_orders == []
    assert report.account.duplicate_trades == []
    assert report.empty_exits == []
    assert report.account.untracked == {}
    assert report.unexplained_orphans == []
    assert report.account.lost_fills == 0, report.account.failures
    assert report.account.bankroll_difference == 0
    assert report.failures == []
