"""The short chaos pass CI runs (``manage.py chaos --kills 2``): ``run_trader --live`` as a
process against the simulator this test hosts, killed with SIGKILL twice at each state and
restarted, then checked against the simulator's account.

Hard assertions: the kills (two at each state but ENTERING, at least one there), no
duplicate order or trade, no untracked position, no orphan on a market no kill touched, no
exit sent with nothing held, and the live bankroll equal to the exchange balance. The stored
trades' money is known to differ from the account's fills until the live lane books what a
kill after an exit was placed sold (README, "Chaos and the canary": the restarted venue
clears the position as a ghost, its sale's cash is booked by no trade), and a kill during
an entry stops live trading (the second ENTERING kill never comes). Those, and only those,
make this test an expected failure (``KnownChaosFailure``, strict: it fails once they are
fixed, so the mark goes)."""

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
    "only 1 of 2 kills at ENTERING",
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
    assert report.kills["ENTERING"] >= 1, report.kill_log
    assert report.account is not None
    assert report.account.duplicate_orders == []
    assert report.account.duplicate_trades == []
    assert report.account.untracked == {}
    assert report.unexplained_orphans == []
    assert report.empty_exits == []
    assert report.account.bankroll_difference == 0
    unknown = [f for f in report.failures if not f.startswith(KNOWN)]
    assert unknown == [], report.failures
    if report.failures:
        raise KnownChaosFailure("\n".join(report.failures))
