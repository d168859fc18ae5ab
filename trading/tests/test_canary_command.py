"""``manage.py canary`` / ``chaos``: what they refuse before anything starts."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db


def test_the_canary_never_runs_on_production(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(settings.KBTC, "KALSHI_ENV", "prod")
    with pytest.raises(CommandError, match="not KALSHI_ENV=prod"):
        call_command("canary", "--hours", "1")


def test_the_canary_on_the_demo_needs_a_key(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(settings.KBTC, "KALSHI_ENV", "demo")
    monkeypatch.setitem(settings.KBTC, "KALSHI_NAMED", True)
    monkeypatch.setitem(settings.KBTC, "KALSHI_API_KEY_ID", "")
    with pytest.raises(CommandError, match="KALSHI_API_KEY_ID"):
        call_command("canary", "--hours", "1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--hours", "0"), "must be positive"),
        (("--hours", "1", "--faults", "order_lost=2"), "--faults: order_lost"),
        (("--hours", "1", "--faults", "nonsense=1"), "unknown fault"),
    ],
)
def test_bad_run_options_are_refused_by_name(args: tuple[str, ...], message: str):
    with pytest.raises(CommandError, match=message):
        call_command("chaos", *args)
