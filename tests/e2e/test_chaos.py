"""The short chaos pass CI runs (``manage.py chaos --kills 2``): ``run_trader --live`` as a
process against the simulator this test hosts, killed with SIGKILL twice at each state and
restarted, then checked against the simulator's account.

Hard assertions: two kills at OPEN, reconciling, EXITING and ENTERING, at least one at
settling; no duplicate order or trade, no exit order for a market the account held nothing
on, no untracked position, no orphan on a market no kill touched, the stored trades' money
equal to the account's fills and settlements to the micro-dollar, and the live bankroll
equal to the exchange balance. A run may offer fewer than two positions held into their
market's close (``settling``: only an exit that sells nothing, or a strategy holding to the
end, keeps one there; README, "Chaos and the canary"), so that one check is tolerated
below two. The promotion gates are the canary's (``test_canary.py``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from trading.chaos.harness import RunOptions, run_live

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# The one known shortfall: a run may not offer two settling kills (README).
TOLERATED = tuple(f"only {n} of 2 kills at settling" for n in (0, 1))


def test_two_kills_at_every_state_leave_the_account_clean(tmp_path: Path):
    report = asyncio.run(
        run_live(RunOptions(data_dir=tmp_path, hours=1.5, kills=2, breakers_off=True))
    )
    summary = report.summary()
    print(f"\nchaos: {summary}")
    for state in ("OPEN", "reconciling", "EXITING", "ENTERING"):
        assert report.kills[state] == 2, (state, report.kill_log)
    assert report.kills["settling"] >= 1, report.kill_log
    assert report.account is not None
    assert report.account.duplicate_orders == []
    assert report.account.duplicate_trades == []
    assert report.empty_exits == []
    assert report.account.untracked == {}
    assert report.unexplained_orphans == []
    assert report.account.lost_fills == 0, report.account.failures
    assert report.account.bankroll_difference == 0
    unknown = [f for f in report.failures if not f.startswith(TOLERATED)]
    assert unknown == [], report.failures
