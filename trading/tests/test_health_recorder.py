"""The recorder under overload is a trouble with its counts, on the health panel and in
``/healthz`` (issue #15, item 3): dropping now is red and degrades ``/healthz``; drops that
are over, and a buffer past half full, stay amber with their numbers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from marketdata.recorder import Recorder
from marketdata.tests.factories import market_with_own_orders
from trading import dashboard, push
from trading.runtime.daemon import Daemon, DaemonConfig
from trading.services.heartbeat import heartbeat_touch

pytestmark = pytest.mark.django_db  # the panel also reads the heartbeat and the web's database


def _health(**recorder: Any) -> dict[str, Any]:
    counts = {
        "recorded": 5_000,
        "dropped": 0,
        "dropping": False,
        "buffered": 10,
        "buffer_bound": 200_000,
        "lag_s": 0.4,
        "flush_errors": 0,
    }
    return {
        "ts": 1_767_225_600_000,
        "feeds": [],
        "db": "ok",
        "redis": "ok",
        "lanes": ["paper"],
        "events_per_s": 900.0,
        "event_errors": 0,
        "orders_unfilled": {},
        "params_error": "",
        "recorder": {**counts, **recorder},
    }


def _troubles(html: str) -> dict[str, str]:
    found = re.findall(r'<li class="trouble (\w+)"><strong>([^<]+):</strong> ([^<]*)</li>', html)
    return {label: f"{level}: {text}" for level, label, text in found}


def _panel(payload: dict[str, Any]) -> str:
    return dashboard.render_topic("health", payload, can_control=False)[0]


def test_the_daemons_report_carries_its_recorders_drops_to_the_panel():
    recorder = Recorder(buffer_bound=10, batch_size=5)
    trader = Daemon(
        DaemonConfig(), feeds=[], candles=lambda before: [], start_ts=0, recorder=recorder
    )
    for event in market_with_own_orders(25, seed=3):
        recorder.record(event)  # faster than any store: nothing has run the writer
    payload = trader.health_payload()
    assert payload["recorder"]["dropped"] == 15
    assert _troubles(_panel(payload))["Recorder"].startswith(
        "bad: dropping events now (buffer full): 15 dropped; 10 of 10 events waiting"
    )


def test_a_recorder_that_keeps_up_stays_on_the_quiet_line():
    html = _panel(_health())
    assert _troubles(html) == {}
    assert "journal 10 waiting, 0.4 s behind" in html


def test_a_recorder_dropping_now_is_red_with_its_counts():
    html = _panel(_health(dropping=True, dropped=247_034, buffered=200_000, lag_s=612.5))
    assert _troubles(html) == {
        "Recorder": "bad: dropping events now (buffer full): 247034 dropped; "
        "200000 of 200000 events waiting, 612.5 s of market time behind"
    }


def test_drops_that_are_over_and_a_deep_backlog_stay_amber():
    html = _panel(_health(dropped=1_200, buffered=150_000, lag_s=300.0))
    assert _troubles(html) == {
        "Recorder": "warn: 1200 events dropped when its buffer was full (journal gaps)",
        "Recorder backlog": "warn: 150000 of 200000 events waiting, 300.0 s of market time behind",
    }


def test_healthz_lists_the_recorders_troubles_and_degrades_while_it_drops(client: Client):
    push.forget_latest_payloads()
    heartbeat_touch()
    publish = async_to_sync(push.Publisher(min_interval_s=0).publish)
    try:
        publish("health", _health(dropping=True, dropped=500, buffered=200_000, lag_s=90.0))
        dropping = client.get("/healthz")
        push.forget_latest_payloads()
        publish("health", _health(dropped=500))
        recovered = client.get("/healthz").json()
    finally:
        push.forget_latest_payloads()
    assert dropping.status_code == 200  # the web tier is up; the verdict says the rest
    body = dropping.json()
    assert body["status"] == "degraded"
    assert body["trader"]["reported"]["recorder"]["dropped"] == 500
    assert body["trader"]["reported"]["troubles"] == [
        {
            "level": "bad",
            "text": "Recorder: dropping events now (buffer full): 500 dropped; "
            "200000 of 200000 events waiting, 90.0 s of market time behind",
        }
    ]
    assert recovered["status"] == "ok"
    assert recovered["trader"]["reported"]["troubles"] == [
        {
            "level": "warn",
            "text": "Recorder: 500 events dropped when its buffer was full (journal gaps)",
        }
    ]
