"""What the dashboard sees of the daemon: its pushes to the channel layer (interfaces.md §8).

The hot path only puts the latest payload of a topic (per lane) into the outbox, so bursts
coalesce in memory; ``run`` publishes what is pending every ``every_s`` (0.2 s: at most 5
per second per topic, ``trading.push``) and adds the health payload once a second. Payloads
are plain JSON (no ``Decimal``, no ``datetime``: the Redis layer packs with msgpack); the
market, position and equity payloads are built here from the engine's records (the market
snapshot, the position records, the lane status), the signal and trade payloads by
``outputs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import structlog
from django.conf import settings

from marketdata.model.candles import CandleAggregator
from trading import push
from trading.engine.records import LaneStatus, MarketSnapshot, PositionOpened, PositionUpdated
from trading.runtime import outputs

log = structlog.get_logger(__name__)

CHART_CANDLE_S = 60
PUBLISH_TIMEOUT_S = 2.0  # the dashboard's BTC chart is 1-minute bars


class Outbox:
    def __init__(self, *, every_s: float = 0.2) -> None:
        self.every_s = every_s
        self.pending: dict[tuple[str, str], dict[str, Any]] = {}  # (topic, lane) → latest
        self.failures = 0  # channel-layer sends that raised (Redis away), over the run
        self.failing = 0  # of those, the ones since the last send that went through
        self.last_failure = ""
        self._chart_candles = CandleAggregator(CHART_CANDLE_S, keep=1)

    def put(self, topic: str, lane: str, payload: dict[str, Any]) -> None:
        self.pending[(topic, lane)] = payload

    # --- payloads built from records ----------------------------------------------------

    def on_spot(self, ts: int, spot: float) -> None:
        self._chart_candles.update(ts, spot)

    def market(self, snap: MarketSnapshot) -> None:
        close_ts, now = snap.close_ts, snap.ts
        self.pending[("market", "")] = {
            "ts": now,
            "ticker": snap.ticker,
            "spot": snap.spot,
            "price_to_beat": snap.price_to_beat,
            "close_ts": close_ts,
            "seconds_to_close": None if close_ts is None else max(0, (close_ts - now) // 1000),
            "yes_bid": snap.yes_bid,
            "yes_ask": snap.yes_ask,
            "spread": snap.spread,
            "bid_volume": snap.bid_volume,
            "ask_volume": snap.ask_volume,
            "obi": snap.obi,
            "regime": snap.regime,
            "atr_pct": snap.atr_pct,
            "candle": self._chart_candle(now),
        }

    def _chart_candle(self, now: int) -> dict[str, Any] | None:
        """The forming 1-minute bar for the dashboard's chart (time in seconds)."""
        self._chart_candles.advance(now)
        bar = self._chart_candles.current
        if bar is None:
            return None
        return {
            "time": bar.start_ts // 1000,
            "open": bar.open,
            "high": bar.high,
            "low": bar.low,
            "close": bar.close,
        }

    def position(
        self, lane: str, held: PositionOpened | None, update: PositionUpdated | None, now: int
    ) -> None:
        """The lane's open position as its records tell it (none: flat)."""
        positions = []
        if held is not None:
            count = update.count if update is not None else held.count
            positions.append(
                {
                    "position_uid": held.position_uid,
                    "ticker": held.ticker,
                    "direction": outputs.direction(held.direction),
                    "contracts": count,
                    "entry_price": held.entry_yes_price,
                    "opened_ts": held.ts,
                    "cost": update.cost if update is not None else held.cost,
                    "fees": update.fees if update is not None else held.fees,
                    "stop_price": None,
                    "target_price": None,
                    "mark_price": None,
                    "unrealized_pnl": None,
                }
            )
        self.pending[("position", lane)] = {"ts": now, "lane": lane, "positions": positions}

    def equity(self, status: LaneStatus, trades: int) -> None:
        self.pending[("equity", status.lane)] = {
            "ts": status.ts,
            "lane": status.lane,
            "bankroll": status.bankroll,
            "peak": status.peak,
            "drawdown": status.drawdown,
            "daily_pnl": status.bankroll - status.daily_start,
            "weekly_pnl": status.bankroll - status.weekly_start,
            "daily_loss": status.daily_loss,
            "weekly_loss": status.weekly_loss,
            "trade_count": trades,
            "breaker_state": status.breaker or "ok",
        }

    # --- publishing ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, health: Callable[[], dict[str, Any]]) -> None:
        publisher = push.default_publisher()
        last_health = 0.0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every_s)
            if time.monotonic() - last_health >= 1.0:
                last_health = time.monotonic()
                self.pending[("health", "")] = health()
            await self.publish_pending(publisher)

    async def publish_pending(self, publisher: push.Publisher) -> None:
        pending, self.pending = self.pending, {}
        for (topic, _), payload in pending.items():
            try:
                # bounded: a Redis that accepts and never answers must not stall the loop
                # (or the stop, which waits for it)
                await asyncio.wait_for(publisher.publish(topic, payload), PUBLISH_TIMEOUT_S)
            except Exception as exc:
                self.failures += 1
                self.failing += 1
                reason = str(exc).strip() or f"no answer within {PUBLISH_TIMEOUT_S} s"
                self.last_failure = f"{type(exc).__name__}: {reason}"[:160]
                # Logged when it starts and then now and again, not five times a second
                # per topic for as long as Redis is away. Payloads are the latest state of
                # their topic, so the next one that goes through carries everything.
                if self.failing in (1, 10, 100) or self.failing % 1000 == 0:
                    log.warning(
                        "publish_failed", topic=topic, failing=self.failing, error=self.last_failure
                    )
                continue
            if self.failing:
                log.info("publish_recovered", failed=self.failing)
                self.failing = 0

    def redis_state(self) -> str:
        # The health payload itself travels over the channel layer, so "ok" means the layer
        # has carried every publish so far; failures are counted, not hidden.
        if "Redis" not in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
            return "not used (in-memory layer)"
        if self.failing:
            return f"failing ({self.failing} publishes lost): {self.last_failure}"
        if self.failures:
            return f"ok ({self.failures} publishes lost earlier)"
        return "ok"
