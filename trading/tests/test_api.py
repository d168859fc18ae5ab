from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from knox.models import AuthToken
from rest_framework.test import APIClient

from trading import push
from trading.models import ControlAudit, ParamOverride, TradingControls
from trading.services import trades
from trading.tests import factories

pytestmark = pytest.mark.django_db

CONTROLS = [
    ("/api/controls/trading-pause/", {"paused": True}, 200),
    ("/api/controls/emergency-stop/", {}, 200),
    ("/api/controls/trade-limit/", {"limit": 5, "reset": True}, 200),
    ("/api/controls/reset-drawdown/", {"lane": "paper"}, 200),
    ("/api/controls/trading-mode/", {"mode": "paper"}, 200),
    ("/api/controls/trading-mode/", {"mode": "live"}, 409),
    ("/api/controls/close-all-exchange-positions/", {}, 409),
    ("/api/param-overrides/", {"name": "min_hold_s", "value": 90}, 200),
]


def _state() -> tuple[object, ...]:
    controls = TradingControls.objects.filter(pk=1).values().first()
    return (controls, list(ParamOverride.objects.values()), ControlAudit.objects.count())


@pytest.fixture
def bearer() -> APIClient:
    user = factories.operator()
    _, token = AuthToken.objects.create(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.parametrize(("url", "body", "expected"), CONTROLS)
def test_controls_without_credentials_are_refused_and_change_nothing(url, body, expected):
    factories.lane_state()
    before = _state()
    response = APIClient().post(url, body, format="json")
    assert response.status_code in (401, 403)
    assert _state() == before


@pytest.mark.parametrize(("url", "body", "expected"), CONTROLS)
def test_controls_with_a_wrong_token_are_refused_and_change_nothing(url, body, expected):
    factories.lane_state()
    factories.operator()
    before = _state()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer " + "0" * 64)
    response = client.post(url, body, format="json")
    assert response.status_code in (401, 403)
    assert _state() == before


@pytest.mark.parametrize(("url", "body", "expected"), CONTROLS)
def test_controls_from_a_non_staff_user_are_refused(url, body, expected):
    factories.lane_state()
    user = factories.operator("visitor", staff=False)
    _, token = AuthToken.objects.create(user)
    before = _state()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.post(url, body, format="json").status_code == 403
    assert _state() == before


@pytest.mark.parametrize(("url", "body", "expected"), CONTROLS)
def test_controls_with_an_operator_token_apply_and_are_audited(bearer, url, body, expected):
    factories.lane_state()
    response = bearer.post(url, body, format="json")
    assert response.status_code == expected, response.content
    audit = ControlAudit.objects.get()
    assert audit.actor_label == "operator"
    assert audit.source == "api"
    assert audit.applied is (expected == 200)


def test_switching_to_live_says_why_it_is_refused(bearer):
    response = bearer.post("/api/controls/trading-mode/", {"mode": "live"}, format="json")
    assert response.status_code == 409
    assert "live lane does not exist" in response.json()["detail"]


def test_pause_through_the_api_is_what_the_daemon_reads(bearer):
    response = bearer.post("/api/controls/trading-pause/", {"paused": True}, format="json")
    assert response.json()["paused"] is True
    assert response.json()["version"] == 1


def test_invalid_override_is_refused_with_the_parameters_bounds(bearer):
    response = bearer.post(
        "/api/param-overrides/", {"name": "obi_long_threshold", "value": 3}, format="json"
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "obi_long_threshold" in detail
    assert "0.5" in detail
    assert "1.0" in detail
    assert not ParamOverride.objects.exists()
    assert not TradingControls.objects.filter(version__gt=0).exists()  # nothing announced
    # the refusal is audited: who tried what, and why it was refused
    audit = ControlAudit.objects.get()
    assert (audit.action, audit.applied, audit.actor_label) == ("override_set", False, "operator")
    assert audit.before == {"name": "obi_long_threshold", "value": 3}
    assert audit.message == detail


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"name": "min_hold_s", "value": "soon"}, "min_hold_s"),
        ({"name": "min_hold_s", "value": 4000}, "min_hold_s"),
        ({"name": "no_such_parameter", "value": 1}, "no_such_parameter"),
    ],
)
def test_each_invalid_override_names_what_was_wrong_and_changes_nothing(bearer, body, named):
    bearer.post("/api/param-overrides/", {"name": "min_hold_s", "value": 90}, format="json")
    response = bearer.post("/api/param-overrides/", body, format="json")
    assert response.status_code == 400
    assert named in response.json()["detail"]
    assert dict(ParamOverride.objects.values_list("name", "value")) == {"min_hold_s": 90}
    assert ControlAudit.objects.filter(applied=False).count() == 1


def test_an_expired_token_is_refused_and_changes_nothing():
    factories.lane_state()
    user = factories.operator()
    _, token = AuthToken.objects.create(user, expiry=timedelta(seconds=-1))
    before = _state()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.post("/api/controls/trading-pause/", {"paused": True}, format="json")
    assert response.status_code == 401
    assert (
        "expired" in response.json()["detail"].lower()
        or "invalid" in response.json()["detail"].lower()
    )
    assert _state() == before


def test_a_session_of_a_user_who_is_not_staff_may_not_act():
    factories.lane_state()
    client = APIClient()
    client.force_login(factories.operator("visitor", staff=False))
    before = _state()
    response = client.post("/api/controls/emergency-stop/", {}, format="json")
    assert response.status_code == 403
    assert _state() == before


def test_overrides_can_be_read_set_and_cleared(bearer):
    bearer.post("/api/param-overrides/", {"name": "min_hold_s", "value": 90}, format="json")
    rows = {row["name"]: row for row in bearer.get("/api/param-overrides/").json()}
    assert rows["min_hold_s"]["overridden"] is True
    assert rows["min_hold_s"]["value"] == 90
    assert rows["min_hold_s"]["set_by"] == "operator"
    # which overrides wait for the trader's next start, and which apply at once
    assert (rows["min_hold_s"]["scope"], rows["obi_history_len"]["scope"]) == ("lane", "market")
    assert bearer.delete("/api/param-overrides/min_hold_s/").status_code == 200
    assert bearer.delete("/api/param-overrides/min_hold_s/").status_code == 404
    bearer.post("/api/param-overrides/", {"name": "min_hold_s", "value": 90}, format="json")
    assert bearer.delete("/api/param-overrides/").status_code == 200
    assert not ParamOverride.objects.exists()


def test_session_writes_need_the_csrf_token():
    user = factories.operator()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/controls/trading-pause/", {"paused": True}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not ControlAudit.objects.exists()


@override_settings(ANONYMOUS_READS=True)
def test_anonymous_reads_when_enabled():
    factories.trade()
    client = APIClient()
    for url in [
        "/api/status/",
        "/api/trades/",
        "/api/equity/",
        "/api/candles/",
        "/api/decisions/",
        "/api/positions/",
        "/api/param-overrides/",
        "/api/stats/",
        "/api/controls/",
    ]:
        assert client.get(url).status_code == 200, url


@override_settings(ANONYMOUS_READS=False)
def test_anonymous_reads_refused_when_disabled(bearer):
    assert APIClient().get("/api/trades/").status_code in (401, 403)
    assert bearer.get("/api/trades/").status_code == 200


@override_settings(ANONYMOUS_READS=True)
def test_trades_are_paginated_and_filterable():
    for _ in range(3):
        factories.trade()
    factories.trade(direction="short", exit_reason="STOP_LOSS", lane="live")
    client = APIClient()
    body = client.get("/api/trades/?lane=paper").json()
    assert body["count"] == 3
    body = client.get("/api/trades/?direction=short&exit_reason=STOP_LOSS").json()
    assert [row["lane"] for row in body["results"]] == ["live"]
    assert client.get("/api/trades/?lane=moon").status_code == 400


@override_settings(ANONYMOUS_READS=True)
def test_equity_and_candles_return_chart_points():
    trades.bankroll_record(
        lane="paper",
        ts_ms=factories.T0_MS,
        bankroll=1_000_000_000,
        peak=1_000_000_000,
        daily_pnl=0,
        trade_count=0,
    )
    body = APIClient().get("/api/equity/?lane=paper&range=all").json()
    assert body["points"][0]["bankroll"] == 1000.0
    candles = APIClient().get("/api/candles/?range=all").json()
    assert set(candles) == {"candles", "ema5", "ema20"}


def test_schema_and_docs_are_served(admin_client):
    assert admin_client.get("/api/schema/").status_code == 200
    assert admin_client.get("/api/docs/").status_code == 200


@override_settings(ANONYMOUS_READS=True)
def test_stats_and_equity_windows_end_at_the_trading_clock_not_the_wall_clock():
    push.forget_latest_payloads()
    start = 1_767_225_600_000  # 2026-01-01 00:00 UTC, simulated: the daemon is not running
    factories.trade(opened_at_ms=start + 600_000, closed_at_ms=start + 900_000)
    for ts_ms in (start - 86_400_000, start + 900_000):  # 24 h 15 min and 0 before the clock
        trades.bankroll_record(
            lane="paper",
            ts_ms=ts_ms,
            bankroll=1_000_000_000,
            peak=1_000_000_000,
            daily_pnl=0,
            trade_count=0,
        )
    client = APIClient()
    stats = client.get("/api/stats/?lane=paper").json()
    assert stats["as_of"].startswith("2026-01-01T00:15:00")
    assert [(day["day"], day["trades"]) for day in stats["daily"]] == [("2026-01-01", 1)]
    points = client.get("/api/equity/?lane=paper&range=24h").json()["points"]
    assert [point["time"] for point in points] == [(start + 900_000) // 1000]


@override_settings(ANONYMOUS_READS=True)
def test_the_decisions_endpoint_returns_each_rows_size_multiplier():
    trades.decision_record(
        lane="paper", ts_ms=factories.T0_MS, kind="entry", conviction="HIGH", size_mult=1.3
    )
    trades.decision_record(
        lane="paper", ts_ms=factories.T0_MS + 1000, kind="exit", skip_reason="STOP_LOSS"
    )
    body = APIClient().get("/api/decisions/?lane=paper").json()
    rows = body["results"] if isinstance(body, dict) else body
    assert [(row["kind"], row["size_mult"]) for row in rows] == [("exit", None), ("entry", 1.3)]
