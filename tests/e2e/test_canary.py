"""``manage.py canary`` as CI runs it: ``run_trader --live`` as a process against the
simulator this test hosts, one simulated hour on a clock stepped as fast as the trader keeps
up (at most 600x), then the §3.19 promotion gates, printed, and the exit status."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from trading.models import BotState

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(settings.KBTC, "DATA_DIR", str(tmp_path))


def canary(*args: str) -> str:
    out = io.StringIO()
    call_command("canary", *args, stdout=out)
    return out.getvalue()


def test_a_one_hour_canary_trades_live_and_passes_every_gate():
    out = canary("--hours", "1", "--speed", "600")
    gates = [line for line in out.splitlines() if line.startswith(("PASS", "FAIL"))]
    print("\n" + "\n".join(gates))
    assert len(gates) == 5
    assert all(line.startswith("PASS") for line in gates), out
    assert '"lost_fills_micros": 0' in out
    assert '"bankroll_difference_micros": 0' in out


def test_the_canary_refuses_a_database_with_a_saved_trader_state():
    BotState.objects.create(lane="live", bankroll=1, peak=1, daily_baseline=1, weekly_baseline=1)
    with pytest.raises(CommandError, match="already has a trader's saved state"):
        canary("--hours", "1")
