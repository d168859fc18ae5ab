"""A failing channel is a trouble with its last error, on the health panel and /healthz."""

from __future__ import annotations

import re

import pytest
from django.template.loader import render_to_string

from trading import dashboard
from trading.health_panel import health_context
from trading.notifications.embeds import embed
from trading.notifications.status import channel_states
from trading.notifications.tasks import post_notification
from trading.tests.notifications.webhook import Answer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhooks")]


def post(channel: str) -> str:
    return post_notification.apply(args=(channel, embed("[PAPER] Heartbeat"))).get()


def troubles(html: str) -> dict[str, str]:
    found = re.findall(r'<li class="trouble (\w+)"><strong>([^<]+):</strong> ([^<]*)</li>', html)
    return {label: f"{level}: {text}" for level, label, text in found}


def test_every_channel_reads_ok_before_its_first_post_and_off_without_a_url(settings, server):
    settings.KBTC = {**settings.KBTC, "DISCORD_WEBHOOKS": {"risk": server.url("risk")}}

    states = {row["channel"]: row["state"] for row in channel_states()}

    assert states == {
        "trades": "off",
        "live_trades": "off",
        "risk": "ok",
        "heartbeat": "off",
        "errors": "off",
        "attribution": "off",
    }
    assert post("trades") == "off"
    assert server.posts == []


def test_a_given_up_post_shows_as_a_trouble_on_the_health_panel(server):
    server.script(Answer(404, body=b'{"message": "Unknown Webhook", "code": 10015}'))
    assert post("risk") == "failed"

    html = render_to_string(dashboard.HEALTH, health_context(None))  # no trader report

    assert troubles(html) == {
        "Discord risk": "bad: posts failing: HTTP 404: {&quot;message&quot;: &quot;Unknown "
        "Webhook&quot;, &quot;code&quot;: 10015}"
    }
    assert "Discord: trades ok · live_trades ok · risk failing · heartbeat ok" in html


def test_a_channel_that_recovers_reads_ok_and_leaves_the_panel(server):
    server.script(Answer(400))
    assert post("errors") == "failed"
    assert post("errors") == "ok"

    html = render_to_string(dashboard.HEALTH, health_context(None))  # no trader report

    assert troubles(html) == {}
    row = next(row for row in channel_states() if row["channel"] == "errors")
    assert row == {"channel": "errors", "state": "ok", "last_error": "HTTP 400"}


def test_healthz_reports_each_channel_without_failing_the_check(client, server):
    server.script(Answer(401, body=b"unauthorized"))
    post("attribution")

    response = client.get("/healthz")

    assert response.status_code == 200
    rows = {row["channel"]: row for row in response.json()["notifications"]}
    assert rows["attribution"] == {
        "channel": "attribution",
        "state": "failing",
        "last_error": "HTTP 401: unauthorized",
    }
    assert rows["trades"]["state"] == "ok"
