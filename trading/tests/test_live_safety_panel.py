"""What the operator sees of the live lane's safety (#22): the health panel says why live
entries are refused until the start reconciliation passes and shows each orphan with its
exposure; the sidebar lists the open orphans from their rows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client, override_settings

from trading import dashboard
from trading.models import LiveOrphan, LivePositionState, LiveTradeCheck
from trading.runtime.live_safety import sync_orphan_rows
from trading.tests import factories
from trading.tests.test_dashboard import HEALTH, _troubles
from trading.venues.live_position import Orphan

pytestmark = pytest.mark.django_db

T = "KXBTC15M-26JAN010015-00"


def test_the_health_panel_says_why_live_entries_are_refused_and_shows_orphan_exposure():
    report = {
        "passed": False,
        "reason": "start reconciliation failed: 500 internal_server_error: down",
        "orphans": [
            {"ticker": T, "side": "no", "contracts": 4.0, "exposure": 2.8, "cause": "RECONCILE"}
        ],
    }
    html = dashboard.render_topic(
        "health", {**HEALTH, "live_reconcile": report}, can_control=False
    )[0]
    troubles = _troubles(html)
    assert troubles["Live reconciliation"] == (
        "bad: live entries refused: start reconciliation failed: 500 internal_server_error: down"
    )
    assert troubles["Live orphan"] == (
        f"bad: {T}: 4.00 no, exposure $2.80 (RECONCILE); live entries blocked"
    )
    failing = {"passed": True, "last_ok": False, "last_error": "timeout", "orphans": []}
    html = dashboard.render_topic(
        "health", {**HEALTH, "live_reconcile": failing}, can_control=False
    )[0]
    assert _troubles(html) == {
        "Live reconciliation": "warn: the last pass failed (retried): timeout"
    }
    passed = {"passed": True, "reason": "", "orphans": []}
    html = dashboard.render_topic(
        "health", {**HEALTH, "live_reconcile": passed}, can_control=False
    )[0]
    assert _troubles(html) == {}


@override_settings(ANONYMOUS_READS=True)
def test_the_sidebar_lists_each_open_orphan_with_its_exposure():
    factories.lane_state()
    LivePositionState.objects.create(
        lane="live", state="FLAT", data={"state": "FLAT", "orphans": {T: {}}}
    )
    now = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
    sync_orphan_rows("live", {T: Orphan(T, -400, "RECONCILE", now, cost=2_800_000)}, now)
    page = Client().get("/").content.decode()
    assert f"Orphan {T}: 4.00 contracts, exposure $2.80; live entries blocked." in page
    # Counts replaced, never added; gone from the state → the row closes.
    sync_orphan_rows("live", {T: Orphan(T, -100, "RECONCILE", now, cost=700_000)}, now)
    row = LiveOrphan.objects.get()
    assert (row.contracts, row.exposure, row.direction) == (Decimal("1"), Decimal("0.7"), "short")
    sync_orphan_rows("live", {}, now + 1000)
    row.refresh_from_db()
    assert row.closed_at is not None
    assert row.close_reason == "GONE"
    assert "Orphan " not in Client().get("/").content.decode()


def test_the_sidebar_counts_flagged_trade_checks_and_says_the_latest_why():
    factories.lane_state()
    LivePositionState.objects.create(lane="live", state="FLAT", data={"state": "FLAT"})
    money = {k: Decimal(0) for k in ("entry_cost", "exit_proceeds", "fees", "pnl")}
    LiveTradeCheck.objects.create(lane="live", ticker=T, reason="TIME_EXIT", **money)
    assert "trade checks flagged" not in Client().get("/").content.decode()
    why = "TRADE_ANOMALY: reason CONTRACT_SETTLED_VERIFY_FAILED"
    LiveTradeCheck.objects.create(
        lane="live", ticker=T, reason="CONTRACT_SETTLED_VERIFY_FAILED", flagged=why, **money
    )
    page = Client().get("/").content.decode()
    assert f'trade checks flagged: <span title="{why}">1</span>' in page
    assert f"Latest: {why}" in page
