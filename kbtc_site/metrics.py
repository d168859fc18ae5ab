"""``/metrics``: Prometheus text, names prefixed ``kbtc_``, read at scrape time.

The trader is another process in production, so nothing here keeps counters of its own
(per-process registries would jump between processes): each scrape reads what the trader
last published of itself on its ``health`` topic (the same report ``/healthz`` shows under
``trader.reported``: feeds, events/s, decisions, orders, fills, queues, writer lag, drops)
and the database (heartbeat, bankroll and breaker per lane, open positions, backups). The
trader's counters count since its start; a restart resets them, which ``rate()`` handles.

Access: with ``KBTC_METRICS_TOKEN`` set, a scraper sends ``Authorization: Bearer <token>``;
without it only direct loopback clients are answered (a proxied request is not one).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kbtc_site.health import trader_reported_payload
from kbtc_site.models import BackupKind, BackupRun, BackupStatus
from trading.models import BotState, BreakerState, OpenPosition
from trading.notifications.status import channel_states
from trading.selectors import trader_heartbeat


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"kbtc_{name}", doc, labels=labels)


def _counter(name: str, doc: str, labels: list[str] | None = None) -> CounterMetricFamily:
    return CounterMetricFamily(f"kbtc_{name}", doc, labels=labels)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def trader_metrics(report: dict[str, Any]) -> Iterator[Metric]:
    """What the trader said of itself (``trading.push``'s ``health`` payload)."""
    rate = _number(report.get("events_per_s"))
    if rate is not None:
        events = _gauge("events_per_second", "Events the trader handled per wall second")
        events.add_metric([], rate)
        yield events

    age = _gauge("feed_last_message_age_seconds", "Age of each feed's last message", ["feed"])
    connected = _gauge("feed_connected", "1 while the feed's socket is connected", ["feed"])
    reconnects = _counter("feed_reconnects", "Reconnects of each feed", ["feed"])
    messages = _counter("feed_messages", "Messages received by each feed", ["feed"])
    malformed = _counter("feed_malformed_frames", "Frames each feed could not parse", ["feed"])
    for feed in report.get("feeds", []):
        feed_name = [str(feed.get("name", "?"))]
        if (age_ms := _number(feed.get("last_message_age_ms"))) is not None:
            age.add_metric(feed_name, age_ms / 1000)
        connected.add_metric(feed_name, 1.0 if feed.get("state") == "connected" else 0.0)
        for feed_counter, key in ((reconnects, "reconnects"), (messages, "messages"),
                                  (malformed, "malformed")):  # fmt: skip
            if (value := _number(feed.get(key))) is not None:
                feed_counter.add_metric(feed_name, value)
    yield from (age, connected, reconnects, messages, malformed)

    decisions = _counter(
        "decisions", "Engine evaluations by lane and outcome (ENTRY or the skip reason)",
        ["lane", "reason"],
    )  # fmt: skip
    for key, count in report.get("decisions", {}).items():
        lane, _, reason = key.partition(":")
        decisions.add_metric([lane, reason], count)
    unfilled = _counter(
        "orders_unfilled", "Orders the venue did not (fully) fill", ["lane", "reason"]
    )
    for key, count in report.get("orders_unfilled", {}).items():
        lane, _, reason = key.partition(":")
        unfilled.add_metric([lane, reason], count)
    orders = _counter("orders", "Orders sent to the lane's venue (entries and exits)", ["lane"])
    for lane, count in report.get("orders", {}).items():
        orders.add_metric([lane], count)
    fills = _counter("fills", "Fills the lane's venue reported", ["lane"])
    for lane, count in report.get("fills", {}).items():
        fills.add_metric([lane], count)
    yield from (decisions, unfilled, orders, fills)

    queues = _gauge("queue_depth", "Items waiting in the trader's queues", ["queue"])
    for queue, depth in report.get("queues", {}).items():
        queues.add_metric([queue], depth)
    yield queues
    singles: tuple[tuple[str, Any, str, str], ...] = (
        ("writer_lag_s", _gauge, "writer_lag_seconds", "Seconds since the persist queue was empty"),
        ("writer_dropped", _counter, "writer_dropped", "Optional writes dropped (queue full)"),
        ("recorder_dropped", _counter, "recorder_dropped_events", "Events the recorder lost"),
        ("event_errors", _counter, "event_errors", "Events the trader failed on"),
    )
    for key, make, name, doc in singles:
        if (value := _number(report.get(key))) is not None:
            family = make(name, doc)
            family.add_metric([], value)
            yield family
    stores = _gauge("trader_store_ok", "1 while the trader's writes to a store succeed", ["store"])
    for store in ("db", "redis"):
        if isinstance(report.get(store), str):
            stores.add_metric([store], 1.0 if report[store].startswith("ok") else 0.0)
    yield stores


def database_metrics() -> Iterator[Metric]:
    """Lanes, positions and backups as the database has them."""
    heartbeat = trader_heartbeat()
    up = _gauge("trader_up", "1 while the trader's heartbeat is fresh")
    up.add_metric([], 1.0 if heartbeat["state"] == "running" else 0.0)
    yield up

    bankroll = _gauge("bankroll_dollars", "The lane's bankroll at its last saved state", ["lane"])
    drawdown = _gauge("drawdown_ratio", "(peak - bankroll) / peak", ["lane"])
    breaker = _gauge("breaker_state", "1 for the lane's breaker state", ["lane", "state"])
    for state in BotState.objects.order_by("lane"):
        bankroll.add_metric([state.lane], float(state.bankroll))
        peak = float(state.peak)
        drawdown.add_metric([state.lane], (peak - float(state.bankroll)) / peak if peak else 0.0)
        for choice in BreakerState.values:
            breaker.add_metric([state.lane, choice], 1.0 if state.breaker_state == choice else 0.0)
    yield from (bankroll, drawdown, breaker)

    positions = _gauge("open_positions", "Positions held", ["lane"])
    for row in OpenPosition.objects.values("lane").annotate(n=Count("id")).order_by("lane"):
        positions.add_metric([row["lane"]], row["n"])
    yield positions

    last_ok = (
        BackupRun.objects.filter(kind=BackupKind.BACKUP, status=BackupStatus.OK)
        .order_by("-finished_at")
        .first()
    )
    if last_ok is not None and last_ok.finished_at is not None:
        age = _gauge("backup_age_seconds", "Seconds since the last successful backup finished")
        age.add_metric([], (timezone.now() - last_ok.finished_at).total_seconds())
        size = _gauge("backup_size_bytes", "Size of the last successful backup")
        size.add_metric([], float(last_ok.size_bytes or 0))
        yield from (age, size)
    ok = _gauge("backup_last_ok", "1 when the latest finished run of the kind succeeded", ["kind"])
    for kind in BackupKind.values:
        latest = (
            BackupRun.objects.filter(kind=kind)
            .exclude(status=BackupStatus.RUNNING)
            .order_by("-finished_at")
            .first()
        )
        if latest is not None:
            ok.add_metric([kind], 1.0 if latest.status == BackupStatus.OK else 0.0)
    yield ok


def notification_metrics() -> Iterator[Metric]:
    """Each Discord channel: 1 when its last post was given up (failing), else 0; a channel
    without a webhook is left out."""
    failing = _gauge(
        "notification_channel_failing", "1 when the channel's last post was given up", ["channel"]
    )
    for row in channel_states():
        if row["state"] != "off":
            failing.add_metric([row["channel"]], 1.0 if row["state"] == "failing" else 0.0)
    yield failing


class KbtcCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from database_metrics()
        yield from notification_metrics()
        report = trader_reported_payload()
        if report is not None:
            yield from trader_metrics(report)


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(KbtcCollector())


def _from_loopback(request: HttpRequest) -> bool:
    if "x-forwarded-for" in request.headers or "forwarded" in request.headers:
        return False  # came through a proxy: the proxy is local, the client is not
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.KBTC["METRICS_TOKEN"]
    if token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = HttpResponse("a bearer token is required\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif not _from_loopback(request):
        return HttpResponse("loopback only: set KBTC_METRICS_TOKEN to scrape from elsewhere\n",
                            status=403)  # fmt: skip
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
