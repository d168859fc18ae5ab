"""GET /api/attribution?mode=: the original's keys and units over a lane's counted trades."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from attribution.services import attribution_week_compute
from trading import push
from trading.tests.factories import trade

pytestmark = pytest.mark.django_db

D0_MS = 1_767_484_800_000  # 2026-01-04T00:00Z, a Sunday
HOUR = 3_600_000


@pytest.fixture
def anonymous(settings) -> APIClient:
    settings.ANONYMOUS_READS = True
    push.forget_latest_payloads()
    return APIClient()


def closed(opened_ms: int, **kw):
    return trade(opened_at_ms=opened_ms, closed_at_ms=opened_ms + 300_000, **kw)


def test_it_answers_in_the_originals_shape(anonymous):
    closed(D0_MS + 8 * HOUR - 1000, pnl=2_000_000, fees=500_000, conviction="HIGH")  # ASIA
    closed(D0_MS + 8 * HOUR, pnl=-1_000_000, fees=500_000, direction="short",
           exit_reason="STOP_LOSS")  # fmt: skip
    closed(D0_MS + 9 * HOUR, pnl=-5_000_000, quarantined=True)  # never counted
    closed(D0_MS + 9 * HOUR, pnl=3_000_000, lane="live")  # another lane
    body = anonymous.get("/api/attribution?mode=paper").json()
    assert (body["total_trades"], body["total_pnl_dollars"], body["mode"]) == (2, 1.0, "paper")
    signal = body["signal_attribution"]
    assert signal["HIGH"] == {
        "trades": 1, "pnl_dollars": 2.0, "avg_pnl_pct": signal["HIGH"]["avg_pnl_pct"],
        "win_rate": 1.0, "pnl_share_pct": 200.0,
    }  # fmt: skip
    assert set(signal) == {"HIGH", "NORMAL", "direction_long", "direction_short"}
    assert body["session_attribution"]["ASIA"]["trades"] == 1
    assert body["session_attribution"]["LONDON"]["pnl_dollars"] == -1.0
    assert body["regime_attribution"]["MEDIUM"]["trades"] == 2
    assert "best_regime" not in body["regime_attribution"]  # 2 trades, not more than 10
    assert body["execution_attribution"] == {
        "total_fees_dollars": 1.0,
        "theoretical_pnl": 2.0,
        "actual_pnl": 1.0,
        "execution_drag": 1.0,
        "fees_as_pct_of_gross": 50.0,
    }
    assert body["exit_reason_breakdown"]["STOP_LOSS"]["pct_of_all"] == 50.0
    assert body["weekly"] is None
    assert anonymous.get("/api/attribution/?mode=paper").json()["total_trades"] == 2


def test_the_newest_weeks_drift_flags_come_with_it(anonymous):
    closed(D0_MS - 7 * 24 * HOUR + HOUR, pnl=1_000_000)
    closed(D0_MS + HOUR, pnl=-1_000_000)
    attribution_week_compute(lane="paper", week_start=dt.date(2026, 1, 4))
    weekly = anonymous.get("/api/attribution?mode=paper").json()["weekly"]
    assert weekly["week_start"] == "2026-01-04"
    assert {(f["dimension"], f["name"], f["pnl"], f["prior_pnl"]) for f in weekly["flipped"]} == {
        ("session", "ASIA", -1.0, 1.0),
        ("regime", "MEDIUM", -1.0, 1.0),
    }


def test_no_trades_and_a_bad_mode(anonymous):
    body = anonymous.get("/api/attribution?mode=live").json()
    assert (body["total_trades"], body["signal_attribution"]) == (0, {})
    assert body["execution_attribution"]["fees_as_pct_of_gross"] == 0
    bad = anonymous.get("/api/attribution?mode=moon")
    assert bad.status_code == 400
    assert "mode" in bad.json()
