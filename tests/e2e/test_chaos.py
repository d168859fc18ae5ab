"""The short chaos pass CI runs (``manage.py chaos --kills 2``): ``run_trader --live`` as a
process against the simulator this test hosts, killed with SIGKILL twice at each state and
restarted, then checked against the simulator's account.

Hard assertions: the kills (two at OPEN and at reconciling, at least one at settling), no
duplicate order or trade, no untracked position, no orphan on a market no kill touched, and
the live bankroll equal to the exchange balance. The stored trades' money is known to
differ from the account's fills until the live lane books what a kill after an exit was
placed sold (README, "Chaos and the canary": the restarted venue clears the position as a
ghost, its sale's cash is booked by no trade; the restarted trader may also send that exit
again for a position the account no longer holds, reduce-only), and a kill during
an entry stops live trading (the second ENTERING kill never comes); and a run may offer
fewer than two positions held into their market's close (``settling``; the later states
then wait). Those, and only those, make this test an expected failure
(``KnownChaosFailure``, strict: it fails once they are fixed, so the mark goes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from trading.chaos.harness import RunOptions, run_live

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

KNOWN = (
    "fills and stored trades differ",
    "  KXBTC15M",  # the per-market lines of that difference
    "stored PnL",
    # The exit kill after the exchange placed the order: the restarted trader may retry
    # the exit it no longer holds (reduce-only: nothing trades), seen in one CI run.
    "exit orders with nothing held",
    # Kills the run may not offer: a position held into its market's close comes only when
    # an exit sells nothing (or the strategy holds to the end), the states after settling
    # in CAMPAIGN wait for it, and a kill during an entry stops live trading.
    *(f"only {n} of 2 kills at {s}" for s in ("settling", "EXITING", "ENTERING") for n in (0, 1)),
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
    assert report.kills["OPEN"] == report.kills["reconciling"] == 2, report.kill_log
    assert report.kills["settling"] >= 1, report.kill_log
    assert report.account is not None
    assert report.account.duplicate_orders == []
    assert report.account.duplicate_trades == []
    assert report.account.untracked == {}
    assert report.unexplained_orphans == []
    assert report.account.bankroll_difference == 0
    unknown = [f for f in report.failures if not f.startswith(KNOWN)]
    assert unknown == [], report.failures
    if report.failures:
        raise KnownChaosFailure("\n".join(report.failures))
