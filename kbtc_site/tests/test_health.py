"""``/healthz`` reports each configured dependency and the trader heartbeat."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.test import Client, override_settings
from django.utils import timezone
from knox.models import AuthToken

from trading import push
from trading.models import TraderHeartbeat
from trading.services.heartbeat import heartbeat_stop, heartbeat_touch
from trading.tests import factories

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


def test_it_shows_what_a_running_trader_last_reported_of_its_feeds_and_writes(
    client: Client,
) -> None:
    push.forget_latest_payloads()
    heartbeat_touch()
    payload = {
        "ts": 1_767_225_600_000,
        "feeds": [
            {
                "name": "kalshi",
                "state": "connected",
                "malformed": 3,
                "malformed_reasons": {"bad json": 3},
                "handler_errors": 0,
                "reconnects": 1,
                "last_message_age_ms": 40,
                "last_error": "",
                "messages": 900,
            }
        ],
        "db": "retrying (12 writes waiting): OperationalError: database away",
        "redis": "ok",
        "lanes": ["paper"],
        "events_per_s": 10.0,
        "event_errors": 0,
        "orders_unfilled": {"paper:no_liquidity": 2},
        "params_error": "",
    }
    async_to_sync(push.Publisher(min_interval_s=0).publish)("health", payload)
    try:
        response = client.get("/healthz")
    finally:
        push.forget_latest_payloads()
    assert response.status_code == 200  # the web tier is healthy; the trader says how it is
    reported = response.json()["trader"]["reported"]
    assert reported["feeds"]["kalshi"]["malformed"] == 3
    assert reported["feeds"]["kalshi"]["malformed_reasons"] == {"bad json": 3}
    assert reported["db"].startswith("retrying")
    assert reported["orders_unfilled"] == {"paper:no_liquidity": 2}


@pytest.mark.redis
def test_with_redis_down_a_running_trader_still_reads_as_running(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    heartbeat_touch()
    away = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(django_settings.ENV, "redis_url", away)
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": away}
    }
    with override_settings(CACHES=caches):
        response = client.get("/healthz")
    assert response.status_code == 503
    trader = response.json()["trader"]
    assert trader["state"] == "running"
    assert "reported" not in trader  # its self-report lives in the cache that is away


@override_settings(ANONYMOUS_READS=False)
def test_an_anonymous_caller_in_production_gets_the_verdict_without_pids_or_hosts(
    client: Client,
) -> None:
    heartbeat_touch()
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["trader"] == {"state": "running"}
    assert all(check == {"ok": True} for check in body["checks"].values())
    text = response.content.decode()
    beat = TraderHeartbeat.objects.get()
    assert str(beat.pid) not in text
    assert beat.hostname not in text


@override_settings(ANONYMOUS_READS=False)
def test_an_operator_token_in_production_gets_the_detail(client: Client) -> None:
    heartbeat_touch()
    _, token = AuthToken.objects.create(factories.operator())
    body = client.get("/healthz", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert body["trader"]["pid"] == TraderHeartbeat.objects.get().pid
    assert client.get("/healthz", HTTP_AUTHORIZATION="Bearer " + "0" * 64).json()["trader"] == {
        "state": "running"
    }


@override_settings(ANONYMOUS_READS=False)
def test_an_operator_session_in_production_gets_the_detail(admin_client: Client) -> None:
    heartbeat_touch()
    assert "hostname" in admin_client.get("/healthz").json()["trader"]
