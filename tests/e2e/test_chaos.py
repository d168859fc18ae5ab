"""The short chaos pass CI runs (``manage.py chaos --kills 2``): ``run_trader --live`` as a
process against the simulator this test hosts, killed with SIGKILL twice at each state and
restarted, then checked against the simulator's account.

The kills, the orders and the positions must be clean (hard assertions). The money checks
are known to fail until the live lane learns of what a kill leaves behind (README, "Chaos
and the canary"): a kill during an entry leaves the engine's entry order pending forever
(the lane never trades again, so the second ENTERING kill never comes), and a kill at
OPEN/settling/EXITING leaves fills and settlements the stored trades do not book (the live
bankroll then differs from the exchange balance), and the engine keeps sending exits for a
position the exchange no longer holds. Those, and only those, make this test an
expected failure (``KnownChaosFailure``, strict: it fails once they are fixed, so the mark
goes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from trading.chaos.harness import CAMPAIGN, RunOptions, run_live

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

KNOWN = (
    "fills and stored trades differ",
    "  KXBTC15M",  # the per-market lines of that difference
    "stored PnL",
    "live bankroll",
    "exit orders with nothing held",  # the exit retried after a kill
    "only 1 of 2 kills at ENTERING",
    "only 0 of 2 kills at ENTERING",
)


class KnownChaosFailure(Exception):
    """The checks README lists as known failures of the chaos run, and nothing else."""


@pytest.mark.xfail(raises=KnownChaosFailure, strict=True, reason="README: known chaos failures")
def test_two_kills_at_every_state_leave_the_account_clean(tmp_path: Path):
    report = asyncio.run(
        run_live(RunOptions(data_dir=tmp_path, hours=1.5, kills=2, breakers_off=True))
    )
    summary = report.summary()
    print(f"\nchaos: {summary}")
    for state in CAMPAIGN[:-1]:
        assert report.kills[state] == 2, (state, report.kill_log)
    assert report.account is not None
    assert report.account.duplicate_orders == []
    assert report.account.duplicate_trades == []
    assert report.account.untracked == {}
    assert report.unexplained_orphans == []
    unknown = [f for f in report.failures if not f.startswith(KNOWN)]
    assert unknown == [], report.failures
    if report.failures:
        raise KnownChaosFailure("\n".join(report.failures))
