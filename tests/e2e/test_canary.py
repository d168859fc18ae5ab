"""``manage.py canary`` as CI runs it: ``run_trader --live`` as a process against the
simulator this test hosts, six simulated hours (issue #23's CI run) on a clock stepped as
fast as the trader keeps up (at most 600x), then the §3.19 promotion gates, printed, and
the exit status."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from trading.models import BotState, LiveOrphan

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(settings.KBTC, "DATA_DIR", str(tmp_path))


def canary(*args: str) -> tuple[str, str]:
    """The command's output and its error ("" when every gate passed)."""
    out = io.StringIO()
    try:
        call_command("canary", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), ""


@pytest.mark.timeout(1200)  # about six wall minutes on an idle two-core machine
def test_a_six_hour_canary_trades_live_and_passes_every_gate():
    """Every promotion gate passes and the money matches the exchange exactly. An exit
    that finds no bid in its three attempts is orphaned (domain.md §3.17.3, BUG-031) and
    settles: the gate counts it and passes only when each attempt was a 1 ¢ sell that
    filled nothing; any other orphan settling (a position the lane lost track of, the
    gate's purpose) fails it."""
    out, error = canary("--hours", "6", "--speed", "600")
    gates = [line for line in out.splitlines() if line.startswith(("PASS", "FAIL"))]
    print("\n" + "\n".join(gates))
    assert len(gates) == 5
    assert all(line.startswith("PASS") for line in gates), out
    assert error == ""
    settled = LiveOrphan.objects.filter(lane="live", close_reason__startswith="ORPHAN_SETTLED")
    assert {o.cause for o in settled} <= {"EXIT_FAILED"}, [(o.ticker, o.cause) for o in settled]
    assert '"lost_fills_micros": 0' in out
    assert '"bankroll_difference_micros": 0' in out


def test_the_canary_refuses_a_database_with_a_saved_trader_state():
    BotState.objects.create(lane="live", bankroll=1, peak=1, daily_baseline=1, weekly_baseline=1)
    with pytest.raises(CommandError, match="already has a trader's saved state"):
        call_command("canary", "--hours", "1", stdout=io.StringIO())
