from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.apps import apps
from django.test import override_settings
from knox.models import AuthToken
from rest_framework.test import APIClient

from trading import push
from trading.models import BankrollSnapshot, ControlAudit, ParamOverride, TradingControls
from trading.services import trades
from trading.tests import factories

pytestmark = pytest.mark.django_db

CONTROLS = [
    ("/api/trading-pause", {"paused": True}, 200),
    ("/api/emergency-stop", {}, 200),
    ("/api/trade-limit", {"limit": 5, "reset": True}, 200),
    ("/api/reset-drawdown?mode=paper", {}, 200),
    ("/api/trading-mode", {"mode": "paper"}, 200),
    ("/api/trading-mode", {"mode": "live", "confirm": True}, 409),
    ("/api/close-all-exchange-positions", {}, 409),
    ("/api/param-overrides", {"name": "min_hold_s", "value": 90}, 200),
]
READS = [
    "/api/health",
    "/api/status",
    "/api/diagnostics",
    "/api/deploy-check",
    "/api/trades",
    "/api/errored-trades",
    "/api/positions",
    "/api/decisions",
    "/api/equity",
    "/api/btc-price",
    "/api/stats",
    "/api/stats/daily",
    "/api/stats/by-regime",
    "/api/stats/signal-accuracy",
    "/api/attribution",
    "/api/param-overrides",
    "/api/controls",
]
DASHBOARD_TOKEN = "d" * 40
T0 = factories.T0_MS
DAY0 = T0 - T0 % 86_400_000  # charts: a start on whole minutes, hours and days


def _state() -> tuple[object, ...]:
    controls = TradingControls.objects.filter(pk=1).values().first()
    return (controls, list(ParamOverride.objects.values()), ControlAudit.objects.count())


def _slashed(url: str) -> str:
    path, _, query = url.partition("?")
    return f"{path}/" + (f"?{query}" if query else "")


@pytest.fixture
def bearer() -> APIClient:
    user = factories.operator()
    _, token = AuthToken.objects.create(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def anonymous(settings) -> APIClient:
    settings.ANONYMOUS_READS = True
    push.forget_latest_payloads()
    return APIClient()


# --- auth ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "body", "expected"), CONTROLS)
def test_controls_without_credentials_are_refused_and_change_nothing(url, body, expected):
    factories.lane_state()
    before = _state()
    response = APIClient().post(url, body, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert _state() == before


@pytest.mark.parametrize(("url", "body", "expected"), CONTROLS)
def test_controls_with_a_wrong_token_are_refused_and_change_nothing(url, body, expected):
    factories.lane_state()
    factories.operator()
    before = _state()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer " + "0" * 64)
    response = client.post(url, body, format="json")
    assert response.status_code == 401
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
    assert response.json()["success"] is (expected == 200)
    audit = ControlAudit.objects.get()
    assert audit.actor_label == "operator"
    assert audit.source == "api"
    assert audit.applied is (expected == 200)


@pytest.mark.parametrize(("url", "body", "expected"), CONTROLS)
def test_controls_answer_the_same_with_a_trailing_slash_and_no_redirect(
    bearer, url, body, expected
):
    factories.lane_state()
    response = bearer.post(_slashed(url), body, format="json")
    assert response.status_code == expected, response.content
    assert ControlAudit.objects.get().applied is (expected == 200)


@override_settings(DASHBOARD_API_TOKEN=DASHBOARD_TOKEN)
@pytest.mark.parametrize(("url", "body", "expected"), CONTROLS)
def test_the_dashboard_token_acts_as_an_operator_audited_as_dashboard_token(url, body, expected):
    factories.lane_state()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {DASHBOARD_TOKEN}")
    response = client.post(url, body, format="json")
    assert response.status_code == expected, response.content
    audit = ControlAudit.objects.get()
    assert (audit.actor_label, audit.actor_id, audit.source) == ("dashboard token", None, "api")


@override_settings(DASHBOARD_API_TOKEN=DASHBOARD_TOKEN)
def test_a_value_near_the_dashboard_token_is_refused_and_changes_nothing():
    before = _state()
    for wrong in (DASHBOARD_TOKEN[:-1], DASHBOARD_TOKEN + "d", DASHBOARD_TOKEN[:-1] + "e"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {wrong}")
        response = client.post("/api/trading-pause", {"paused": True}, format="json")
        assert response.status_code == 401
    assert _state() == before


@override_settings(DASHBOARD_API_TOKEN="")
def test_without_a_dashboard_token_configured_no_bearer_value_passes_as_it():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer ")
    assert client.post("/api/trading-pause", {"paused": True}, format="json").status_code == 401
    assert not ControlAudit.objects.exists()


def test_a_short_dashboard_token_stops_startup(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from kbtc_site.env import load_env

    monkeypatch.setenv("DASHBOARD_API_TOKEN", "short")
    with pytest.raises(ImproperlyConfigured, match="DASHBOARD_API_TOKEN: at least 32"):
        load_env()


def test_session_writes_need_the_csrf_token():
    user = factories.operator()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/trading-pause", {"paused": True}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not ControlAudit.objects.exists()


def test_an_expired_token_is_refused_and_changes_nothing():
    factories.lane_state()
    user = factories.operator()
    _, token = AuthToken.objects.create(user, expiry=dt.timedelta(seconds=-1))
    before = _state()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.post("/api/trading-pause", {"paused": True}, format="json")
    assert response.status_code == 401
    assert _state() == before


# --- every path, both spellings -----------------------------------------------------------


@pytest.mark.parametrize("url", READS)
def test_every_read_answers_with_and_without_a_trailing_slash(anonymous, url):
    factories.trade()
    factories.lane_state()
    plain, slashed = anonymous.get(url), anonymous.get(_slashed(url))
    assert plain.status_code == slashed.status_code == 200, (plain.content, slashed.content)
    assert plain.json() == slashed.json() or plain.json().keys() == slashed.json().keys()


@override_settings(ANONYMOUS_READS=False)
def test_anonymous_reads_refused_when_disabled(bearer):
    assert APIClient().get("/api/trades").status_code == 401
    assert bearer.get("/api/trades").status_code == 200
    assert APIClient().get("/api/health").status_code == 200  # the liveness probe


def test_the_schema_documents_each_path_once_without_the_slash(admin_client):
    paths = admin_client.get("/api/schema/?format=json").json()["paths"]
    for url in READS + [url.partition("?")[0] for url, _, _ in CONTROLS]:
        assert url in paths, url
        assert f"{url}/" not in paths
    assert (
        "dashboardToken"
        in admin_client.get("/api/schema/?format=json").json()["components"]["securitySchemes"]
    )
    assert admin_client.get("/api/docs/").status_code == 200


# --- controls' answers --------------------------------------------------------------------


def test_switching_to_live_says_why_it_is_refused(bearer):
    response = bearer.post("/api/trading-mode", {"mode": "live", "confirm": True}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["success"] is False
    assert "live lane does not exist" in body["error"]


def test_trading_mode_answers_the_previous_mode(bearer):
    body = bearer.post("/api/trading-mode", {"mode": "paper"}, format="json").json()
    assert body == {
        "success": True,
        "mode": "paper",
        "previous_mode": "paper",
        "message": "Already in paper mode",
    }


def test_pause_and_resume_answer_the_originals_states(bearer):
    body = bearer.post("/api/trading-pause", {"paused": True}, format="json").json()
    assert (body["success"], body["trading_paused"]) == (True, "paused")
    assert TradingControls.objects.get().paused is True
    body = bearer.post("/api/trading-pause/", {"paused": False}, format="json").json()
    assert body["trading_paused"] == "off"


def test_resuming_restarts_the_trade_limits_count(bearer):
    bearer.post("/api/trade-limit", {"limit": 2}, format="json")
    assert TradingControls.objects.get().live_trade_count_since is None
    bearer.post("/api/trading-pause", {"paused": True}, format="json")
    bearer.post("/api/trading-pause", {"paused": False}, format="json")
    assert TradingControls.objects.get().live_trade_count_since is not None


def test_a_pause_body_that_is_not_a_bool_is_a_400_naming_the_field(bearer):
    response = bearer.post("/api/trading-pause", {"paused": "maybe"}, format="json")
    assert response.status_code == 400
    assert "paused" in response.json()
    assert not ControlAudit.objects.exists()


def test_emergency_stop_answers_what_it_asked_the_trader(bearer):
    body = bearer.post("/api/emergency-stop", {}, format="json").json()
    assert body["success"] is True
    assert body["paused"] is True
    assert body["emergency_stop_seq"] == 1
    assert "closes every lane" in body["actions"][0]


def test_reset_drawdown_takes_the_lane_from_the_query_and_answers_old_and_new_peak(bearer):
    factories.lane_state(bankroll=950_000_000, peak=1_000_000_000)
    body = bearer.post("/api/reset-drawdown?mode=paper", format="json").json()
    assert body["success"] is True
    assert (body["mode"], body["bankroll"], body["old_peak"], body["new_peak"]) == (
        "paper",
        950.0,
        1000.0,
        950.0,
    )
    assert body["drawdown_pct"] == 0.0


def test_reset_drawdown_of_the_live_lane_is_refused(bearer):
    response = bearer.post("/api/reset-drawdown?mode=live", format="json")
    assert response.status_code == 409
    assert "live lane" in response.json()["error"]


def test_trade_limit_answers_the_limit_the_count_and_whether_it_may_enter(bearer):
    body = bearer.post("/api/trade-limit", {"limit": 1, "reset": True}, format="json").json()
    assert (body["live_trade_limit"], body["completed_live_trades"], body["can_enter"]) == (
        1,
        0,
        True,
    )
    assert "live lane" in body["message"]
    body = bearer.post("/api/trade-limit", {"reset": True}, format="json").json()
    assert body["live_trade_limit"] == 1  # a body without "limit" keeps it
    body = bearer.post("/api/trade-limit", {"limit": None}, format="json").json()
    assert body["live_trade_limit"] is None


def test_overrides_can_be_read_set_and_cleared(bearer):
    bearer.post("/api/param-overrides", {"name": "min_hold_s", "value": 90}, format="json")
    body = bearer.get("/api/param-overrides").json()
    assert body["overrides"] == {"min_hold_s": 90}
    assert body["active"] is True
    rows = {row["name"]: row for row in body["parameters"]}
    assert (rows["min_hold_s"]["value"], rows["min_hold_s"]["set_by"]) == (90, "operator")
    # which overrides wait for the trader's next start, and which apply at once
    assert (rows["min_hold_s"]["scope"], rows["obi_history_len"]["scope"]) == ("lane", "market")
    assert bearer.delete("/api/param-overrides/min_hold_s").status_code == 200
    assert bearer.delete("/api/param-overrides/min_hold_s/").status_code == 404
    bearer.post("/api/param-overrides", {"name": "min_hold_s", "value": 90}, format="json")
    body = bearer.delete("/api/param-overrides").json()
    assert (body["success"], body["cleared"]) == (True, 1)
    assert bearer.get("/api/param-overrides").json()["active"] is False


def test_invalid_override_is_refused_with_the_parameters_bounds(bearer):
    response = bearer.post(
        "/api/param-overrides", {"name": "obi_long_threshold", "value": 3}, format="json"
    )
    assert response.status_code == 400
    detail = response.json()["error"]
    assert "obi_long_threshold" in detail
    assert "0.5" in detail
    assert not ParamOverride.objects.exists()
    audit = ControlAudit.objects.get()
    assert (audit.action, audit.applied, audit.actor_label) == ("override_set", False, "operator")


def test_the_paper_breaker_is_operator_changeable_through_the_overrides(bearer):
    response = bearer.post(
        "/api/param-overrides", {"name": "paper_breaker_halts", "value": True}, format="json"
    )
    assert response.status_code == 200
    factories.lane_state()
    status = bearer.get("/api/status").json()
    assert status["paper_risk"]["paper_breaker_halts"] is True
    assert ControlAudit.objects.get().action == "override_set"


# --- reads' answers -----------------------------------------------------------------------


def test_health_is_the_originals_ok(anonymous):
    assert anonymous.get("/api/health").json() == {"status": "ok"}
    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION="Bearer " + "0" * 64)
    assert stale.get("/api/health/").status_code == 200


def test_trades_are_paged_newest_first_with_flagged_rows(anonymous):
    for i in range(3):
        factories.trade(closed_at_ms=T0 + 300_000 + i * 1000)
    factories.trade(closed_at_ms=T0 + 400_000, quarantined=True, error_reason="bad fill")
    factories.trade(lane="live", direction="short", exit_reason="STOP_LOSS")
    body = anonymous.get("/api/trades?mode=paper&per_page=2&page=1").json()
    assert (body["total"], body["page"], body["per_page"], body["total_pages"]) == (4, 1, 2, 2)
    assert body["trades"][0]["quarantined"] is True  # the newest, flagged, still listed
    first = body["trades"][1]
    assert first["mode"] == "paper"
    assert first["entry_price"] == 0.42
    assert first["pnl"] == 0.05
    assert first["regime_at_entry"] == "MEDIUM"
    assert first["signal_driver"] == "OBI"
    body = anonymous.get("/api/trades?mode=paper&per_page=2&page=3").json()
    assert body["trades"] == []
    body = anonymous.get("/api/trades?mode=live&direction=short&exit_reason=STOP_LOSS").json()
    assert [row["mode"] for row in body["trades"]] == ["live"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("per_page=101", "per_page"),
        ("per_page=0", "per_page"),
        ("page=0", "page"),
        ("page=19965952733043904512", "page"),  # past the database's offset range
        ("mode=moon", "mode"),
        ("date_from=yesterday", "date_from"),
    ],
)
def test_a_bad_trades_query_is_a_400_naming_the_parameter(anonymous, query, field):
    response = anonymous.get(f"/api/trades?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_the_trade_list_defaults_to_the_trading_modes_lane_and_ten_a_page(anonymous):
    for i in range(12):
        factories.trade(closed_at_ms=T0 + 300_000 + i)
    body = anonymous.get("/api/trades").json()
    assert (body["mode"], body["per_page"], len(body["trades"])) == ("paper", 10, 10)


def test_errored_trades_list_only_flagged_rows_with_their_reason(anonymous):
    factories.trade()
    factories.trade(quarantined=True, error_reason="fill after close")
    body = anonymous.get("/api/errored-trades?mode=paper").json()
    assert body["total"] == 1
    assert body["trades"][0]["error_reason"] == "fill after close"


def test_decisions_page_size_is_honoured_and_bounded(anonymous):
    for i in range(3):
        trades.decision_record(lane="paper", ts_ms=T0 + i * 1000, kind="sample")
    body = anonymous.get("/api/decisions?page_size=2").json()
    assert (body["count"], len(body["results"])) == (3, 2)
    body = anonymous.get("/api/decisions?page_size=100000").json()
    assert len(body["results"]) == 3  # capped at 500, not refused


def test_stats_answer_the_originals_totals(anonymous):
    factories.lane_state(bankroll=1_000_050_000)
    factories.trade(pnl=50_000)
    factories.trade(pnl=-20_000)
    factories.trade(pnl=10_000, exit_reason="TICKER_ROLLED")  # mechanical: left out
    body = anonymous.get("/api/stats?mode=paper").json()
    assert (body["total_trades"], body["wins"], body["losses"]) == (2, 1, 1)
    assert body["total_pnl"] == pytest.approx(0.03)
    assert (body["best_trade"], body["worst_trade"]) == (0.05, -0.02)
    assert body["win_rate"] == 0.5
    assert body["equity"] == 1000.05
    assert body["initial_bankroll"] == pytest.approx(1000.05 - 0.04)
    assert body["mode"] == "paper"


def test_daily_stats_and_regimes(anonymous):
    factories.trade(closed_at_ms=T0, pnl=10_000)
    factories.trade(closed_at_ms=T0 + 86_400_000, pnl=-10_000, regime="HIGH")
    daily = anonymous.get("/api/stats/daily?mode=paper").json()["daily"]
    assert [(row["date"], row["trades"], row["wins"]) for row in daily] == [
        ("2026-09-21", 1, 1),
        ("2026-09-22", 1, 0),
    ]
    assert len(anonymous.get("/api/stats/daily?mode=paper&days=1").json()["daily"]) == 1
    regimes = anonymous.get("/api/stats/by-regime?mode=paper").json()["regimes"]
    assert {row["regime"]: row["win_rate"] for row in regimes} == {"HIGH": 0.0, "MEDIUM": 1.0}


def test_signal_accuracy_counts_the_signal_logs_combinations(anonymous):
    rules = {"reason": "ROC_NEUTRAL", "rules": [["obi", "LONG"], ["roc", "NEUTRAL"]]}
    for i in range(3):
        trades.decision_record(
            lane="paper", ts_ms=T0 + i, kind="sample", skip_reason="ROC_NEUTRAL", reasons=rules
        )
    trades.decision_record(lane="paper", ts_ms=T0 + 9, kind="exit", skip_reason="STOP_LOSS")
    signals = anonymous.get("/api/stats/signal-accuracy").json()["signals"]
    assert signals == [
        {
            "obi_direction": "LONG",
            "roc_direction": "NEUTRAL",
            "decision": "flat",
            "conviction": "",
            "skip_reason": "ROC_NEUTRAL",
            "count": 3,
        }
    ]


def test_deploy_check_is_blocked_by_an_open_live_position(anonymous):
    assert anonymous.get("/api/deploy-check").json()["safe_to_deploy"] is True
    trades.position_open(
        lane="live",
        position_uid="live-1",
        ticker="KXBTC15M-26SEP211415-15",
        direction="long",
        contracts=500,
        entry_price=4200,
        opened_at_ms=T0,
        cost=2_100_000,
    )
    body = anonymous.get("/api/deploy-check").json()
    assert body["safe_to_deploy"] is False
    assert body["message"].startswith("BLOCKED: Open live position: KXBTC15M-26SEP211415-15")


def test_status_carries_the_originals_keys_and_the_breakers_truth(anonymous):
    factories.lane_state()
    from trading.models import BotState

    BotState.objects.filter(lane="paper").update(breaker_state="MAX_DRAWDOWN_HALT")
    body = anonymous.get("/api/status").json()
    for key in ("trading_mode", "trading_paused", "paper_bankroll", "paper_risk", "live_risk"):
        assert key in body, key
    assert body["trading_paused"] == "off"
    assert body["paper_bankroll"] == 950.0
    risk = body["paper_risk"]
    assert (risk["breaker_tripped"], risk["breaker_enforced"]) == (True, False)
    assert "not enforced on paper" in risk["breaker_text"]
    assert body["live_risk"]["available"] is False


def test_diagnostics_report_the_candles_and_the_positions(anonymous):
    _minute_bars(DAY0, 3)
    body = anonymous.get("/api/diagnostics").json()
    assert (body["kalshi_ws"], body["spot_ws"]) == (None, None)  # no trader reported
    assert body["candle_count"] == 3
    assert body["last_candle_time"] == (DAY0 + 120_000) // 1000
    assert body["has_paper_position"] is False
    assert body["can_trade"] == {"paper": True, "live": False}


def test_diagnostics_give_each_socket_in_the_originals_shape(anonymous):
    feeds = [
        {"name": "coinbase", "state": "connected", "messages": 120, "connects": 1,
         "reconnects": 0, "last_message_age_ms": 250},
        {"name": "kalshi", "state": "reconnecting", "messages": 40, "connects": 3,
         "reconnects": 2, "last_message_age_ms": 12_400, "active_ticker": "KXBTC15M-X"},
    ]  # fmt: skip
    health = {"ts": T0, "feeds": feeds}
    async_to_sync(push.Publisher(min_interval_s=0).publish)("health", health)  # as the trader
    try:
        body = anonymous.get("/api/diagnostics").json()
    finally:
        push.forget_latest_payloads()
    assert body["spot_ws"]["connected"] is True
    assert body["spot_ws"]["last_message_age_sec"] == 0.2
    kalshi = body["kalshi_ws"]
    assert (kalshi["connected"], kalshi["message_count"], kalshi["connect_attempts"]) == (
        False,
        40,
        3,
    )
    assert kalshi["active_ticker"] == "KXBTC15M-X"


# --- charts: whole span, bounded payload ---------------------------------------------------


def _snapshots(start_ms: int, count: int, step_ms: int) -> None:
    BankrollSnapshot.objects.bulk_create(
        BankrollSnapshot(
            lane="paper",
            ts=trades.ms_to_datetime(start_ms + i * step_ms),
            bankroll=Decimal(1000 + i),
            peak=Decimal(1000 + i),
            drawdown=0.0,
            daily_pnl=Decimal(0),
            trade_count=i,
        )
        for i in range(count)
    )


def _minute_bars(start_ms: int, count: int, interval_s: int = 60, source: str = "binance") -> None:
    candle = apps.get_model("marketdata", "Candle")
    candle.objects.bulk_create(
        candle(
            source=source,
            interval_s=interval_s,
            open_time=trades.ms_to_datetime(start_ms + i * interval_s * 1000),
            open=Decimal(50_000 + i),
            high=Decimal(50_010 + i),
            low=Decimal(49_990 + i),
            close=Decimal(50_001 + i),
            volume=Decimal(1),
        )
        for i in range(count)
    )


def test_the_equity_curve_of_all_time_spans_its_whole_history_in_a_bounded_payload(anonymous):
    _snapshots(T0, 6000, 600_000)  # ~41.7 days, one point every 10 minutes
    factories.lane_state()
    from trading.models import BotState

    now = trades.ms_to_datetime(T0 + 5999 * 600_000)
    BotState.objects.update(snapshot_at=now)
    body = anonymous.get("/api/equity?mode=paper&days=0").json()
    points = body["equity"]
    assert len(points) <= 1500
    assert points[0]["time"] == T0 // 1000  # the start stays visible
    assert points[-1]["time"] == (T0 + 5999 * 600_000) // 1000  # up to now
    assert points[-1]["bankroll"] == 6999.0
    assert body["bucket_s"] == 3600
    week = anonymous.get("/api/equity?mode=paper&days=7").json()["equity"]
    assert week[-1]["time"] == points[-1]["time"]
    assert week[0]["time"] >= (T0 + 5999 * 600_000) // 1000 - 7 * 86_400


def test_a_short_equity_history_is_returned_whole(anonymous):
    _snapshots(T0, 5, 1000)
    factories.trade(closed_at_ms=T0 + 4000)  # the trading clock
    body = anonymous.get("/api/equity?mode=paper&days=1").json()
    assert [p["trade_count"] for p in body["equity"]] == [0, 1, 2, 3, 4]
    assert body["bucket_s"] == 0


def test_btc_price_over_a_week_is_bucketed_ohlc_to_now(anonymous):
    _minute_bars(DAY0, 7 * 1440)
    last_minute_ms = DAY0 + (7 * 1440 - 1) * 60_000
    factories.trade(closed_at_ms=last_minute_ms)  # the trading clock
    body = anonymous.get("/api/btc-price?days=7").json()
    bars = body["candles"]
    assert body["interval_s"] == 900  # no 15-minute bars stored: read from the minutes
    assert len(bars) == 7 * 96  # the whole week (the first minute is 7 days before now)
    assert bars[0]["time"] == DAY0 // 1000
    assert bars[-1]["time"] == (last_minute_ms - 14 * 60_000) // 1000
    second = bars[1]  # minutes 15..29
    assert (second["open"], second["high"], second["low"], second["close"]) == (
        50_015,
        50_010 + 29,
        49_990 + 15,
        50_001 + 29,
    )
    assert second["volume"] == 15.0
    assert len(body["ema5"]) == len(bars)
    day = anonymous.get("/api/btc-price?days=1").json()
    assert day["interval_s"] == 60
    assert day["candles"][-1]["time"] == last_minute_ms // 1000


def test_btc_price_prefers_fifteen_minute_bars_and_live_over_binance(anonymous):
    _minute_bars(DAY0, 4 * 96, interval_s=900)
    _minute_bars(DAY0, 1, interval_s=900, source="live")
    factories.trade(closed_at_ms=DAY0 + 30 * 86_400_000)
    body = anonymous.get("/api/btc-price?days=0").json()
    assert body["interval_s"] == 3600
    assert body["candles"][0]["time"] == DAY0 // 1000
    assert body["candles"][0]["volume"] == 4.0  # four quarters, the live one replacing its twin
    assert body["candles"][-1]["time"] == (DAY0 + 4 * 86_400_000) // 1000 - 3600
