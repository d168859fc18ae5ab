from __future__ import annotations

import re
from typing import Any

import pytest
from django.template.loader import render_to_string
from django.test import Client, override_settings

from trading import dashboard, push
from trading.models import ControlAudit, ParamOverride
from trading.services import trades
from trading.tests import factories

pytestmark = pytest.mark.django_db

MARKET = {
    "ts": factories.T0_MS,
    "ticker": "KXBTC15M-26SEP211415-15",
    "spot": 64123.5,
    "price_to_beat": 64000.0,
    "close_ts": factories.T0_MS + 300_000,
    "seconds_to_close": 300,
    "yes_bid": 4200,
    "yes_ask": 4300,
    "spread": 100,
    "bid_volume": 120000,
    "ask_volume": 80000,
    "obi": 0.6,
    "regime": "MEDIUM",
    "atr_pct": 0.31,
    "candle": {"time": 1_790_000_000, "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5},
}
SIGNAL = {
    "ts": factories.T0_MS,
    "lane": "paper",
    "ticker": "T",
    "direction": "long",
    "conviction": "HIGH",
    "driver": "OBI",
    "obi": 0.7,
    "roc": 0.12,
    "regime": "LOW",
    "spread_state": "NORMAL",
    "skip_reason": "",
    "reasons": {"obi": "above 0.65"},
}
POSITION = {
    "ts": factories.T0_MS,
    "lane": "paper",
    "positions": [
        {
            "position_uid": "paper-1",
            "ticker": "T",
            "direction": "long",
            "contracts": 1000,
            "entry_price": 4200,
            "opened_ts": factories.T0_MS,
            "cost": 4_200_000,
            "fees": 170_000,
            "stop_price": 4116,
            "target_price": 4326,
            "mark_price": 4400,
            "unrealized_pnl": 200_000,
        }
    ],
}
EQUITY = {
    "ts": factories.T0_MS,
    "lane": "paper",
    "bankroll": 1_010_000_000,
    "peak": 1_010_000_000,
    "drawdown": 0.0,
    "daily_pnl": 10_000_000,
    "weekly_pnl": 10_000_000,
    "daily_loss": 0.0,
    "weekly_loss": 0.0,
    "trade_count": 4,
    "breaker_state": "ok",
}
HEALTH: dict[str, Any] = {
    "ts": factories.T0_MS,
    "feeds": [
        {
            "name": "kalshi",
            "state": "connected",
            "last_message_age_ms": 120,
            "messages": 1000,
            "reconnects": 1,
            "resnapshots": 2,
            "malformed": 0,
            "malformed_reasons": {},
            "handler_errors": 0,
            "last_error": "",
        }
    ],
    "db": "ok",
    "redis": "ok",
    "lanes": ["paper"],
    "events_per_s": 50.0,
    "event_errors": 0,
    "orders_unfilled": {},
    "params_error": "",
}
TROUBLED_HEALTH = {
    **HEALTH,
    "feeds": [
        {
            **HEALTH["feeds"][0],
            "malformed": 3,
            "malformed_reasons": {"unknown_type": 1, "bad_json": 2},
            "handler_errors": 1,
        },
        {
            "name": "coinbase",
            "state": "reconnecting",
            "last_message_age_ms": 61_000,
            "messages": 500,
            "reconnects": 4,
            "resnapshots": 0,
            "malformed": 0,
            "malformed_reasons": {},
            "handler_errors": 0,
            "last_error": "ConnectionRefusedError: [Errno 111] Connect call failed",
        },
    ],
    "db": "retrying (12 writes waiting): OperationalError: connection refused",
    "redis": "ok (4 publishes lost earlier)",
    "event_errors": 2,
    "orders_unfilled": {"paper:no_liquidity": 3, "paper:price_moved": 1},
    "params_error": "overrides not applied: stop_loss_pct: <must be at most 0.5>",
}
TRADE = {
    "ts": factories.T0_MS,
    "lane": "paper",
    "trade": {
        "position_uid": "paper-1",
        "ticker": "T",
        "direction": "long",
        "contracts": 1000,
        "entry_price": 4200,
        "exit_price": 4400,
        "fees": 340_000,
        "pnl": 1_660_000,
        "exit_reason": "TAKE_PROFIT",
        "quarantined": False,
    },
}
PAYLOADS = {
    "market": MARKET,
    "signal": SIGNAL,
    "position": POSITION,
    "equity": EQUITY,
    "health": HEALTH,
    "trade": TRADE,
}


def _ids(html: str) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', html))


def _top_level_ids(html: str) -> list[str]:
    return re.findall(r'^<div id="([^"]+)"', html, flags=re.MULTILINE)


@override_settings(ANONYMOUS_READS=True)
def test_the_page_renders_every_live_widget_that_pushes_can_replace():
    factories.lane_state()
    factories.trade()
    page = Client().get("/").content.decode()
    on_page = _ids(page)
    pushed = dashboard.render_snapshot(can_control=False)
    for topic, payload in PAYLOADS.items():
        pushed += "".join(
            f
            for f in dashboard.render_topic(topic, payload, can_control=False)
            if not f.startswith("{")
        )
    assert set(_top_level_ids(pushed)) <= on_page
    for widget in (
        "sidebar",
        "market-panel",
        "signal-paper",
        "signal-live",
        "health-panel",
        "positions-paper",
        "positions-live",
        "trades-panel",
        "stats-paper",
        "stats-live",
        "attribution-paper",
        "attribution-live",
        "flagged-panel",
        "equity-chart",
        "btc-chart",
        "attribution-panel",
        "backtest-panel",
    ):
        assert widget in on_page
    assert "tradingview.com" in page
    assert "lightweight-charts.standalone.production.js" in page
    assert "hx-ws-2" in page
    assert not re.search(r'<(script|link)[^>]+(src|href)="(https?:)?//', page)  # offline


@override_settings(ANONYMOUS_READS=False)
def test_the_page_asks_for_a_login_when_anonymous_reads_are_off():
    response = Client().get("/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_topic_payloads_render_their_partials():
    market = dashboard.render_topic("market", MARKET, can_control=False)
    assert 'id="market-panel"' in market[0]
    assert "$64,123.50" in market[0]
    assert "42¢" in market[0]
    assert "60.0%" in market[0]
    assert market[1].startswith('{"chart": "btc"')
    signal = dashboard.render_topic("signal", SIGNAL, can_control=False)[0]
    assert 'id="signal-paper"' in signal
    assert "above 0.65" in signal
    position = dashboard.render_topic("position", POSITION, can_control=False)[0]
    assert "$0.20" in position
    assert "44¢" in position
    health = dashboard.render_topic("health", HEALTH, can_control=False)[0]
    assert "kalshi" in health
    equity = dashboard.render_topic("equity", EQUITY, can_control=False)
    assert 'id="sidebar"' in equity[0]
    assert '"value": 1010.0' in equity[1]
    trade, trades = dashboard.render_topic("trade", TRADE, can_control=False)
    assert 'id="stats-paper"' in trade
    assert 'id="attribution-paper"' in trade  # a close re-attributes the lane
    assert trades.startswith('<div id="trades-panel"')  # its own frame: the page may drop it
    assert 'hx-trigger="load' not in trade + trades  # a push never makes the page request


def test_trades_partial_filters_and_pages():
    for _ in range(30):
        factories.trade()
    factories.trade(direction="short", exit_reason="STOP_LOSS")
    client = Client()
    client.force_login(factories.operator())
    body = client.get("/partials/trades/?direction=short").content.decode()
    assert "STOP_LOSS" in body
    assert "1 trades" in body
    body = client.get("/partials/trades/?page=2").content.decode()
    assert "page 2 of 2" in body


def test_pause_button_posts_with_csrf_and_rerenders_the_sidebar():
    factories.lane_state()
    client = Client(enforce_csrf_checks=True)
    client.force_login(factories.operator())
    assert client.post("/controls/pause/", {"paused": "true"}).status_code == 403  # no token
    page = client.get("/").content.decode()
    match = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert match is not None
    token = match.group(1)
    response = client.post("/controls/pause/", {"paused": "true"}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Resume" in body  # the sidebar, swapped out of band
    assert 'id="sidebar" class="card sidebar" hx-swap-oob="true"' in body
    assert ControlAudit.objects.get().source == "dashboard"


def test_the_live_switch_refuses_with_the_reason():
    client = Client()
    client.force_login(factories.operator())
    body = client.post("/controls/trading-mode/", {"mode": "live"}).content.decode()
    assert "live lane does not exist" in body
    assert ControlAudit.objects.get().applied is False


def test_controls_from_non_operators_are_forbidden():
    client = Client()
    client.force_login(factories.operator("visitor", staff=False))
    for url in ("/controls/pause/", "/controls/trading-mode/", "/controls/emergency-stop/"):
        assert client.post(url, {"paused": "true", "mode": "paper"}).status_code == 403
    assert Client().post("/controls/emergency-stop/").status_code == 403
    assert not ControlAudit.objects.exists()


def test_emergency_stop_button_requests_the_stop():
    client = Client()
    client.force_login(factories.operator())
    body = client.post("/controls/emergency-stop/").content.decode()
    assert "emergency stop pending" in body


def test_the_daily_pnl_panel_shows_the_days_of_the_trading_clock():
    push.forget_latest_payloads()
    start = 1_767_225_600_000  # 2026-01-01 00:00 UTC: the demo's simulated time
    factories.trade(opened_at_ms=start + 1_039_000, closed_at_ms=start + 1_160_000, pnl=-3_450_000)
    trades.bot_state_save(
        lane="paper",
        bankroll=996_550_000,
        peak=1_000_000_000,
        daily_baseline=1_000_000_000,
        weekly_baseline=1_000_000_000,
        snapshot_at_ms=start + 86_400_000 + 60_000,  # the trader's clock: 2026-01-02 00:01
    )
    stats = render_to_string(dashboard.STATS, dashboard.stats_context("paper"))
    assert "14 days to 2026-01-02" in stats
    assert re.search(r'<span class="day">01-01</span>.*-\$3\.45', stats)
    assert "No trades in these" not in stats


def _troubles(html: str) -> dict[str, str]:
    """The health panel's trouble lines, label → (level, text)."""
    found = re.findall(r'<li class="trouble (\w+)"><strong>([^<]+):</strong> ([^<]*)</li>', html)
    return {label: f"{level}: {text}" for level, label, text in found}


def test_a_healthy_trader_report_stays_quiet():
    html = dashboard.render_topic("health", HEALTH, can_control=False)[0]
    assert _troubles(html) == {}
    assert "Trader&#x27;s DB: ok · Redis: ok · no event errors · 50.0 events/s" in html
    assert 'class="warn"' not in html
    assert 'class="neg"' not in html


def test_the_health_panel_shows_what_the_trader_reports_and_only_troubles_stand_out():
    html = dashboard.render_topic("health", TROUBLED_HEALTH, can_control=False)[0]
    troubles = _troubles(html)
    assert troubles == {
        "Parameters": "bad: overrides not applied: stop_loss_pct: &lt;must be at most 0.5&gt;. "
        "The trader keeps trading on the parameters already in force.",
        "Trader&#x27;s DB": "bad: retrying (12 writes waiting): OperationalError: "
        "connection refused",
        "Redis publishes": "warn: ok (4 publishes lost earlier)",
        "Event errors": "warn: 2 events failed (logged and skipped)",
        "Unfilled orders": "warn: paper: no_liquidity ×3, paper: price_moved ×1",
    }
    assert next(iter(troubles)) == "Parameters"  # first, where the eye lands
    assert "malformed: 3 (bad_json ×2, unknown_type ×1); handler errors: 1" in html
    assert '<td class="neg">reconnecting</td>' in html
    assert "last error: ConnectionRefusedError: [Errno 111] Connect call failed" in html
    assert "Trader&#x27;s DB:" not in html.split("</table>")[1]  # not repeated as fine


@override_settings(ANONYMOUS_READS=True)
def test_the_page_load_renders_the_health_report_as_a_push_does():
    push.forget_latest_payloads()
    pushed = dashboard.render_topic("health", TROUBLED_HEALTH, can_control=False)[0]
    from asgiref.sync import async_to_sync

    async_to_sync(push.Publisher(min_interval_s=0).publish)("health", TROUBLED_HEALTH)
    try:
        page = Client().get("/").content.decode()
    finally:
        push.forget_latest_payloads()
    assert _troubles(page) == _troubles(pushed)
    assert "malformed: 3" in page


def test_a_refused_controls_message_lives_outside_what_the_socket_rerenders():
    factories.lane_state()
    client = Client()
    client.force_login(factories.operator())
    body = client.post("/controls/trading-mode/", {"mode": "live"}).content.decode()
    message = body[: body.index('<div id="sidebar"')]
    assert message.startswith('<div id="control-message"')
    assert 'class="message refused"' in message
    assert "Refused: the live lane does not exist yet" in message
    # the pushes that re-render the sidebar (controls changed, equity) carry no message,
    # and the page keeps the message box outside the sidebar
    pushed = dashboard.render_sidebar(can_control=True)
    assert 'id="control-message"' not in pushed
    assert "Refused" not in pushed
    page = client.get("/").content.decode()
    assert page.index('id="control-message"') < page.index('id="sidebar"')
    assert 'id="control-message"' not in _between(page, '<div id="sidebar"', "</aside>")


def test_an_applied_controls_message_is_not_marked_refused():
    client = Client()
    client.force_login(factories.operator())
    body = client.post("/controls/pause/", {"paused": "true"}).content.decode()
    assert '<p class="message"><span>Paused: no new entries on any lane.</span>' in body


def _between(text: str, start: str, end: str) -> str:
    begin = text.index(start)
    return text[begin : text.index(end, begin)]


def _tripped_paper_lane() -> None:
    factories.lane_state()
    from trading.models import BotState

    BotState.objects.filter(lane="paper").update(breaker_state="MAX_DRAWDOWN_HALT")


def test_a_paper_trip_reads_tripped_not_enforced_unless_the_paper_breaker_halts():
    _tripped_paper_lane()
    sidebar = dashboard.render_sidebar(can_control=False)
    breaker = _between(sidebar, '<dd class="breaker">', "</dd>")
    assert "MAX_DRAWDOWN_HALT · tripped, not enforced on paper" in breaker
    assert "badge warn" in breaker
    assert "not enforced (trips are shown, paper keeps trading)" in sidebar

    from trading.services import controls

    tuner = controls.Actor.process("tuner")
    controls.override_set(name="paper_breaker_halts", value=True, actor=tuner)
    sidebar = dashboard.render_sidebar(can_control=False)
    breaker = _between(sidebar, '<dd class="breaker">', "</dd>")
    assert "MAX_DRAWDOWN_HALT · halting" in breaker
    assert "badge bad" in breaker


def test_a_clear_breaker_reads_clear():
    factories.lane_state()
    breaker = _between(dashboard.render_sidebar(can_control=False), '<dd class="breaker">', "</dd>")
    assert "clear" in breaker


def test_the_operator_turns_the_paper_breaker_on_and_off_audited():
    _tripped_paper_lane()
    client = Client()
    client.force_login(factories.operator())
    body = client.post("/controls/paper-breaker/", {"halts": "true"}).content.decode()
    assert "Paper breaker enforced" in body
    assert "MAX_DRAWDOWN_HALT · halting" in body
    assert ParamOverride.objects.get(name="paper_breaker_halts").value is True
    body = client.post("/controls/paper-breaker/", {"halts": "false"}).content.decode()
    assert "tripped, not enforced on paper" in body
    audits = ControlAudit.objects.order_by("id")
    assert [(a.action, a.source, a.after["value"]) for a in audits] == [
        ("override_set", "dashboard", True),
        ("override_set", "dashboard", False),
    ]
    assert Client().post("/controls/paper-breaker/", {"halts": "true"}).status_code == 403


def test_the_sidebar_shows_each_lanes_total_trade_count():
    factories.lane_state()
    for _ in range(3):
        factories.trade()
    factories.trade(lane="live")
    sidebar = dashboard.render_sidebar(can_control=False)
    paper = _between(sidebar, 'id="sidebar-paper"', "</section>")
    assert '<dt>Trades (total)</dt><dd class="trade-count">3</dd>' in paper


def test_the_signal_cards_spread_comes_from_the_entry_rules():
    payload = {**SIGNAL, "spread_state": "", "reasons": {"rules": [["spread", "WIDE"]]}}
    html = render_to_string(dashboard.SIGNAL, dashboard.signal_context("paper", payload))
    assert '<span class="spread-state">WIDE</span>' in html


@override_settings(ANONYMOUS_READS=True)
def test_the_page_has_lane_tabs_a_value_toggle_and_lane_scoped_widgets():
    page = Client().get("/").content.decode()
    assert '<button type="button" data-lane="paper" class="active">Paper</button>' in page
    assert '<button type="button" data-lane="live" class="">Live</button>' in page
    assert 'data-value="pnl"' in page
    for widget in ("signal-live", "positions-live", "stats-live"):
        assert re.search(rf'id="{widget}" class="[^"]*lane-live', page), widget
    assert 'rel="icon"' in page


def test_the_favicon_is_served():
    response = Client().get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("favicon.svg")
