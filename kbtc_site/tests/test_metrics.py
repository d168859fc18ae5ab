"""``/metrics``: what the trader reported and the database hold, in Prometheus text, and
who may read it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from kbtc_site.models import BackupKind, BackupRun, BackupStatus
from trading import push
from trading.models import BotState, OpenPosition
from trading.services.heartbeat import heartbeat_touch

pytestmark = pytest.mark.django_db

REPORT: dict[str, Any] = {
    "ts": 1_767_225_600_000,
    "feeds": [
        {"name": "kalshi", "state": "connected", "last_message_age_ms": 250, "messages": 900,
         "reconnects": 2, "malformed": 3},
        {"name": "coinbase", "state": "reconnecting", "last_message_age_ms": 12_000,
         "messages": 40, "reconnects": 5, "malformed": 0},
    ],
    "db": "ok", "redis": "retrying: away", "lanes": ["paper"], "events_per_s": 87.5,
    "event_errors": 1, "orders_unfilled": {"paper:no_liquidity": 2},
    "decisions": {"paper:ENTRY": 4, "paper:SPREAD_TOO_WIDE": 120},
    "orders": {"paper": 8}, "fills": {"paper": 7},
    "queues": {"writer": 12, "recorder": 300}, "writer_lag_s": 0.4,
    "writer_dropped": 0, "recorder_dropped": 6,
}  # fmt: skip


def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


@pytest.fixture
def reported() -> Any:
    push.forget_latest_payloads()
    async_to_sync(push.Publisher(min_interval_s=0).publish)("health", REPORT)
    yield
    push.forget_latest_payloads()


def test_it_shows_what_the_trader_reported(client: Client, reported: None) -> None:
    heartbeat_touch()
    samples = scrape(client)
    assert samples[("kbtc_trader_up", ())] == 1
    assert samples[("kbtc_events_per_second", ())] == 87.5
    assert samples[("kbtc_feed_last_message_age_seconds", (("feed", "coinbase"),))] == 12.0
    assert samples[("kbtc_feed_connected", (("feed", "coinbase"),))] == 0
    assert samples[("kbtc_feed_reconnects_total", (("feed", "kalshi"),))] == 2
    skip = (("lane", "paper"), ("reason", "SPREAD_TOO_WIDE"))
    assert samples[("kbtc_decisions_total", skip)] == 120
    assert samples[("kbtc_orders_total", (("lane", "paper"),))] == 8
    assert samples[("kbtc_fills_total", (("lane", "paper"),))] == 7
    assert samples[("kbtc_queue_depth", (("queue", "recorder"),))] == 300
    assert samples[("kbtc_writer_lag_seconds", ())] == 0.4
    assert samples[("kbtc_recorder_dropped_events_total", ())] == 6
    assert samples[("kbtc_trader_store_ok", (("store", "redis"),))] == 0


def test_it_shows_lanes_positions_and_backups_from_the_database(client: Client) -> None:
    push.forget_latest_payloads()
    money = {"daily_baseline": Decimal(1000), "weekly_baseline": Decimal(1000)}
    BotState.objects.create(
        lane="paper", bankroll=Decimal("900"), peak=Decimal("1000"),
        breaker_state="DAILY_LOSS_LIMIT", **money,
    )  # fmt: skip
    OpenPosition.objects.create(
        lane="paper", position_uid="p1", ticker="KXBTC15M-X", direction="long",
        contracts=Decimal(10), entry_price=Decimal("0.5"), opened_at=timezone.now(),
        cost=Decimal(5),
    )  # fmt: skip
    finished = timezone.now() - timedelta(hours=2)
    BackupRun.objects.create(
        kind=BackupKind.BACKUP, status=BackupStatus.OK, started_at=finished,
        finished_at=finished, size_bytes=1234,
    )  # fmt: skip
    BackupRun.objects.create(
        kind=BackupKind.BACKUP, status=BackupStatus.FAILED, started_at=timezone.now(),
        finished_at=timezone.now(),
    )  # fmt: skip
    samples = scrape(client)
    assert samples[("kbtc_trader_up", ())] == 0
    assert samples[("kbtc_bankroll_dollars", (("lane", "paper"),))] == 900
    assert samples[("kbtc_drawdown_ratio", (("lane", "paper"),))] == pytest.approx(0.1)
    tripped = (("lane", "paper"), ("state", "DAILY_LOSS_LIMIT"))
    assert samples[("kbtc_breaker_state", tripped)] == 1
    assert samples[("kbtc_breaker_state", (("lane", "paper"), ("state", "ok")))] == 0
    assert samples[("kbtc_open_positions", (("lane", "paper"),))] == 1
    assert 7190 < samples[("kbtc_backup_age_seconds", ())] < 7300
    assert samples[("kbtc_backup_last_ok", (("kind", "backup"),))] == 0
    assert ("kbtc_events_per_second", ()) not in samples  # no trader report: no figure


def test_without_a_token_only_direct_loopback_clients_are_answered(client: Client) -> None:
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.5").status_code == 403
    proxied = client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert proxied.status_code == 403
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1


def test_with_a_token_every_scraper_must_send_it(client: Client, settings: Any) -> None:
    settings.KBTC = {**settings.KBTC, "METRICS_TOKEN": "s3cret-token"}
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    right = client.get("/metrics", REMOTE_ADDR="10.0.0.5", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert right.status_code == 200


def test_a_failing_discord_channel_shows_as_failing(client: Client, settings: Any) -> None:
    from trading.notifications.status import delivery_record
    from trading.notifications.transport import Delivery

    settings.KBTC = {
        **settings.KBTC,
        "DISCORD_WEBHOOKS": {"risk": "http://127.0.0.1:9/r", "errors": "http://127.0.0.1:9/e"},
    }
    delivery_record(
        "risk", Delivery(ok=False, attempts=8, error="503 Service Unavailable", waits=())
    )
    delivery_record("errors", Delivery(ok=True, attempts=1, error="", waits=()))
    samples = scrape(client)
    failing = "kbtc_notification_channel_failing"
    assert samples[(failing, (("channel", "risk"),))] == 1.0
    assert samples[(failing, (("channel", "errors"),))] == 0.0
    assert (failing, (("channel", "trades"),)) not in samples  # no webhook: not listed
