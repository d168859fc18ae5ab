"""Channel-layer publishing: the daemon's dashboard topics and the control announcements.

The daemon calls ``await publish(topic, payload)``; at most 5 messages per second per topic
leave the process (latest payload wins, a trailing send flushes the last one), and the
latest payload of each topic is kept in the cache so a dashboard that (re)connects renders
the current state at once. The web side (``trading.consumers``) renders the HTML partials;
the daemon renders no templates. Payloads are plain JSON (str, int, float, bool, None, list,
dict with str keys): no ``Decimal``, no ``datetime`` — the Redis layer packs with msgpack,
and ``publish`` asserts it.

Units on the wire are the engine's (interfaces.md §1): prices ``int`` $0.0001 units in YES
space, counts ``int`` hundredths of a contract, money ``int`` micro-dollars, times ``int``
milliseconds since the epoch (UTC), BTC prices and ratios ``float``. ``lane`` is ``"paper"``
or ``"live"``. Keys marked ``?`` may be ``null``.

Topic payloads
--------------

``market`` (the active contract and spot; ≤5/s)::

    {"ts": int, "ticker": str?, "spot": float?, "price_to_beat": float?,
     "close_ts": int?, "seconds_to_close": int?,
     "yes_bid": int?, "yes_ask": int?, "spread": int?,          # price units
     "bid_volume": int, "ask_volume": int,                      # hundredths, top-N levels
     "obi": float?, "regime": str, "atr_pct": float?,
     "candle": {"time": int, "open": float, "high": float, "low": float, "close": float}?}
                                                                 # the forming 1-min bar, time in s

``signal`` (a lane's latest evaluation)::

    {"ts": int, "lane": str, "ticker": str?, "direction": "long"|"short"|null,
     "conviction": str, "size_mult": float?, "driver": str, "obi": float?, "roc": float?,
     "regime": str, "spread_state": str, "skip_reason": str, "reasons": dict}

    (built by ``signal_payload``, from the engine's decision or a signal-log row)

``position`` (every open position of one lane; ``positions`` empty when flat)::

    {"ts": int, "lane": str, "positions": [
        {"position_uid": str, "ticker": str, "direction": "long"|"short", "contracts": int,
         "entry_price": int, "opened_ts": int, "cost": int, "fees": int,
         "stop_price": int?, "target_price": int?, "mark_price": int?, "unrealized_pnl": int?}]}

``trade`` (published after the trade row is committed; the dashboard re-reads the tables)::

    {"ts": int, "lane": str, "trade": {"position_uid": str, "ticker": str,
     "direction": str, "contracts": int, "entry_price": int, "exit_price": int,
     "fees": int, "pnl": int, "exit_reason": str, "quarantined": bool}}

``equity`` (a lane's bankroll and breaker)::

    {"ts": int, "lane": str, "bankroll": int, "peak": int, "drawdown": float,
     "daily_pnl": int, "weekly_pnl": int, "daily_loss": float, "weekly_loss": float,
     "trade_count": int, "breaker_state": str}
                       # daily_loss / weekly_loss: fraction of the baseline lost (≥ 0)

``health`` (feeds and stores; ≤1/s is plenty)::

    {"ts": int, "feeds": [{"name": str, "state": str, "last_message_age_ms": int?,
                           "messages": int, "reconnects": int, "resnapshots": int,
                           "malformed": int, "malformed_reasons": {str: int},
                           "handler_errors": int, "last_error": str, ...}],  # FeedStats
     "db": "ok"|str, "redis": "ok"|str, "lanes": [str], "events_per_s": float?,
     "event_errors": int, "orders_unfilled": {"<lane>:<reason>": int},
     "params_error": str}       # "" unless the trader refused the stored overrides
                                # db: "retrying (N writes waiting): …" during an outage

A send that fails (Redis away, a layer error, no answer within ``SEND_TIMEOUT_S``) keeps its
payloads: the next flush of the topic sends them, unless a newer payload of the same lane
replaced them. An immediate send raises to the caller; a delayed (coalesced) send fails in
the background, is logged once per outage and is raised to the caller by the topic's next
``publish`` as ``DelayedPublishError`` (its payload is kept and flushed), so the caller
counts both kinds of failure in one place.

On the channel layer each topic group ``kbtc.<topic>`` receives
``{"type": "live.message", "topic": str, "payloads": [payload, ...]}`` (one payload per lane
that changed since the last message of that topic).

``close_dashboards()`` sends ``{"type": "dashboard.close", "code": int}`` to the group
``kbtc.dashboard`` every dashboard socket joins: each consumer closes its socket with that
code (1000 by default, what daphne's idle timeout sends), so the page's reconnect after a
server-initiated close can be exercised on a running server.

Control announcements (from ``trading.services.controls``, on commit) go to the group
``kbtc.controls`` as ``{"type": "controls.changed", "action": str, ...details}``; the daemon
then re-reads ``trading.selectors.controls_current()`` (it also polls it every second, so a
lost announcement delays a control by a second, never loses it).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

import structlog
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache

log = structlog.get_logger(__name__)

TOPICS = ("market", "signal", "position", "trade", "equity", "health")
CONTROLS_GROUP = "kbtc.controls"
DASHBOARD_GROUP = "kbtc.dashboard"
MIN_INTERVAL_S = 0.2  # 5 messages per second per topic
LATEST_KEY = "kbtc:live:latest:{topic}:{slot}"
SLOTS = ("", "paper", "live")
LATEST_TTL_S = 3600
SEND_TIMEOUT_S = 2.0  # a delayed send has no caller to bound it: a silent Redis would hold it


class DelayedPublishError(Exception):
    """A delayed (coalesced) send of a topic failed; raised by the topic's next ``publish``,
    whose own payload is kept and flushed all the same."""


def signal_payload(
    *,
    ts: int,
    lane: str,
    ticker: str | None,
    direction: str | None,
    conviction: str,
    size_mult: float | None,
    driver: str,
    obi: float | None,
    roc: float | None,
    regime: str,
    spread_state: str,
    skip_reason: str,
    reasons: dict[str, Any],
) -> dict[str, Any]:
    """The ``signal`` topic's payload (one shape, whatever it is built from)."""
    return {
        "ts": ts,
        "lane": lane,
        "ticker": ticker,
        "direction": direction or None,
        "conviction": conviction,
        "size_mult": size_mult,
        "driver": driver,
        "obi": obi,
        "roc": roc,
        "regime": regime,
        "spread_state": spread_state,
        "skip_reason": skip_reason,
        "reasons": reasons,
    }


def topic_group(topic: str) -> str:
    return f"kbtc.{topic}"


def assert_plain_json(value: Any, path: str = "payload") -> None:
    """Raise ``TypeError`` unless ``value`` is made of JSON's own types only."""
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{path}: {value!r} is not finite (JSON has no NaN/Infinity)")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            assert_plain_json(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path}: key {key!r} is not a str")
            assert_plain_json(item, f"{path}.{key}")
        return
    raise TypeError(f"{path}: {type(value).__name__} is not plain JSON")


class Publisher:
    """Per-topic coalescing: at most one group message per topic every ``min_interval_s``.

    Within a topic the latest payload per lane wins (payloads without a ``lane`` share one
    slot), so one lane's burst never hides the other lane's update; a message carries the
    pending payload of each lane.
    """

    def __init__(self, min_interval_s: float = MIN_INTERVAL_S) -> None:
        self.min_interval_s = min_interval_s
        self._last_sent: dict[str, float] = {}
        self._pending: dict[str, dict[str, dict[str, Any]]] = {}
        self._flushers: dict[str, asyncio.Task[None]] = {}
        self._unreported: dict[str, DelayedPublishError] = {}  # topic → its failed delayed send
        self._failed: set[str] = set()  # topics whose last send failed
        self.sent = 0
        self.coalesced = 0
        self.delayed_failures = 0  # delayed sends that raised, over the publisher's life
        self.failing = 0  # delayed sends failed since the last send that went through

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        if topic not in TOPICS:
            raise ValueError(f"unknown topic {topic!r}: expected one of {', '.join(TOPICS)}")
        assert_plain_json(payload)
        slot = str(payload.get("lane", ""))
        wait = self._last_sent.get(topic, -math.inf) + self.min_interval_s - time.monotonic()
        failed = self._unreported.pop(topic, None)
        # A topic whose last send failed is not delayed: a delayed publish returns before its
        # send, and its caller would take the return for the end of the outage.
        due = wait <= 0 or topic in self._failed
        if due and topic not in self._flushers and failed is None:
            # Whatever a failed send left pending goes too; this payload replaces its lane's.
            payloads = self._pending.pop(topic, {})
            payloads[slot] = payload
            try:
                await self._send(topic, list(payloads.values()))
            except BaseException:  # a timeout's cancel too: the payloads wait for the next flush
                self._keep(topic, payloads)
                self._failed.add(topic)
                raise
            return
        pending = self._pending.setdefault(topic, {})
        if slot in pending:
            self.coalesced += 1
        pending[slot] = payload
        if topic not in self._flushers:
            self._schedule(topic)
        if failed is not None:
            raise failed

    def _schedule(self, topic: str) -> None:
        wait = self._last_sent.get(topic, -math.inf) + self.min_interval_s - time.monotonic()
        self._flushers[topic] = asyncio.create_task(self._flush_later(topic, wait))

    def _keep(self, topic: str, payloads: dict[str, dict[str, Any]]) -> None:
        """Put back what a failed send carried; a lane's newer pending payload wins."""
        self._pending[topic] = {**payloads, **self._pending.get(topic, {})}

    async def _flush_later(self, topic: str, wait: float) -> None:
        sent = False
        try:
            await asyncio.sleep(max(wait, 0.0))
            pending = self._pending.pop(topic, None)
            if pending:
                try:
                    await asyncio.wait_for(
                        self._send(topic, list(pending.values())), SEND_TIMEOUT_S
                    )
                    sent = True
                except asyncio.CancelledError:  # the loop is closing: leave them pending
                    self._keep(topic, pending)
                    raise
                except Exception as exc:
                    # Nobody awaits this task: without this the failure would be lost (at
                    # best "Task exception was never retrieved").
                    self._keep(topic, pending)
                    self._delayed_send_failed(topic, exc)
        finally:
            self._flushers.pop(topic, None)
        # Payloads that arrived while this one was being sent; after a failure the topic's
        # next publish flushes instead (no retry loop against a Redis that is away).
        if sent and self._pending.get(topic):
            self._schedule(topic)

    def _delayed_send_failed(self, topic: str, exc: Exception) -> None:
        self._failed.add(topic)
        self.delayed_failures += 1
        self.failing += 1
        reason = str(exc).strip() or f"no answer within {SEND_TIMEOUT_S} s"
        error = f"{type(exc).__name__}: {reason}"[:160]
        self._unreported[topic] = DelayedPublishError(f"delayed send of {topic} failed: {error}")
        if self.failing == 1:  # once per outage: the caller logs the ones it is told of
            log.warning("delayed_publish_failed", topic=topic, error=error)

    async def _send(self, topic: str, payloads: list[dict[str, Any]]) -> None:
        self._last_sent[topic] = time.monotonic()
        self.sent += 1
        await cache.aset_many(
            {_latest_key(topic, p): json.dumps(p) for p in payloads}, LATEST_TTL_S
        )
        layer = get_channel_layer()
        if layer is not None:
            await layer.group_send(
                topic_group(topic), {"type": "live.message", "topic": topic, "payloads": payloads}
            )
        self._failed.discard(topic)
        if self.failing:
            log.info("delayed_publish_recovered", failed=self.failing)
            self.failing = 0

    async def drain(self) -> None:
        """Wait for every trailing send (tests, shutdown)."""
        while self._flushers:
            await asyncio.gather(*list(self._flushers.values()), return_exceptions=True)


def _latest_key(topic: str, payload: dict[str, Any]) -> str:
    return LATEST_KEY.format(topic=topic, slot=payload.get("lane", ""))


_publisher: Publisher | None = None


def default_publisher() -> Publisher:
    global _publisher
    if _publisher is None:
        _publisher = Publisher()
    return _publisher


async def publish(topic: str, payload: dict[str, Any]) -> None:
    """Publish one topic payload from the daemon (see the module docstring for schemas)."""
    await default_publisher().publish(topic, payload)


def latest_payloads() -> dict[tuple[str, str], dict[str, Any]]:
    """The last published payload per (topic, lane) — lane ``""`` for lane-less topics —
    for a dashboard's first render."""
    keys = {LATEST_KEY.format(topic=t, slot=slot): (t, slot) for t in TOPICS for slot in SLOTS}
    found = cache.get_many(list(keys))
    return {keys[key]: json.loads(text) for key, text in found.items()}


def latest_event_ms() -> int | None:
    """The newest event time (``ts``) among the latest published payloads: the trader's
    clock as it last reported it, or None when nothing is cached (no trader within
    ``LATEST_TTL_S``)."""
    times = [p.get("ts") for p in latest_payloads().values()]
    return max((t for t in times if isinstance(t, int) and t > 0), default=None)


def forget_latest_payloads() -> None:
    """Drop every cached payload (tests, and a shared cache another run wrote to)."""
    cache.delete_many([LATEST_KEY.format(topic=t, slot=slot) for t in TOPICS for slot in SLOTS])


def announce_control(*, action: str, **details: Any) -> None:
    """Tell the daemon and the dashboards a control changed (called on commit, sync)."""
    message = {"type": "controls.changed", "action": action, **details}
    assert_plain_json(message)
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(CONTROLS_GROUP, message)


async def close_dashboards(code: int = 1000) -> None:
    """Close every open dashboard socket from the server side with ``code``."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(DASHBOARD_GROUP, {"type": "dashboard.close", "code": code})
