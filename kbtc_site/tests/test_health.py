"""``/healthz`` reports each configured dependency and the trader heartbeat."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from trading.models import TraderHeartbeat
from trading.services.heartbeat import heartbeat_stop, heartbeat_touch

pytestmark = pytest.mark.django_db


def test_it_reports_the_trader_as_not_running_without_failing(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["trader"] == {"state": "not running"}


def test_it_reports_a_beating_trader_as_running(client: Client) -> None:
    heartbeat_touch()
    assert client.get("/healthz").json()["trader"]["state"] == "running"


def test_it_reports_a_silent_trader_as_stale(client: Client) -> None:
    heartbeat_touch()
    TraderHeartbeat.objects.update(beat_at=timezone.now() - timedelta(minutes=5))
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["trader"]["state"] == "stale"


def test_a_cleanly_stopped_trader_reads_not_running(client: Client) -> None:
    heartbeat_touch()
    heartbeat_stop()
    assert client.get("/healthz").json()["trader"]["state"] == "not running"


@pytest.mark.redis
def test_it_fails_when_configured_redis_is_down(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(django_settings.ENV, "redis_url", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False


@pytest.mark.redis
def test_it_checks_redis_when_configured(client: Client) -> None:
    response = client.get("/healthz")
    assert response.json()["checks"]["redis"] == {"ok": True}
