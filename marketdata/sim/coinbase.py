"""Coinbase Advanced Trade market-data WS at ``/coinbase`` (exchange-protocols.md §5.1).

Channels ``ticker``, ``market_trades`` and ``heartbeats`` for BTC-USD; one channel per
subscribe message, answered with a ``subscriptions`` frame. ``sequence_num`` is one counter
per connection across all channels starting at 0: that is what the recorded fixtures show
(the docs' per-product wording is older and unconfirmed, §7 point 14). ``heartbeat_counter``
is a string as in the official docs example.

Heartbeats carry simulated time: one per simulated second (from the core's clock ticks) and,
when the simulated clock is slow or stepped, at least one per wall second (interfaces.md §4),
so a client's stream always advances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from marketdata.model.events import SpotTicker, SpotTrade
from marketdata.sim.faults import FaultDice

PRODUCT = "BTC-USD"
CHANNELS = ("ticker", "market_trades", "heartbeats")

Frame = dict[str, Any]


def cb_time(ms: int) -> str:
    """Coinbase's nanosecond RFC 3339 stamp."""
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}000000Z"


def go_time(ms: int, uptime_s: float) -> str:
    """The heartbeat's Go ``time.Time`` text: ``2023-06-23 20:31:56.121961769 +0000 UTC m=+9.5``."""
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{ms % 1000:03d}000000 +0000 UTC m=+{uptime_s:.9f}"


@dataclass
class DayStats:
    """24 h / 52 w figures for the ticker (from past bars only)."""

    open_24h: float
    high_24h: float
    low_24h: float
    volume_24h: float
    high_52w: float
    low_52w: float


@dataclass
class CoinbaseSession:
    dice: FaultDice
    channels: set[str] = field(default_factory=set)
    sequence: int = 0
    heartbeat_counter: int = 0
    last_heartbeat_ms: int | None = None
    last_wall: float = 0.0  # monotonic time of the last heartbeat (set by the server)

    def _frame(self, channel: str, ts: int, events: list[dict[str, Any]]) -> Frame:
        # seq_skip fault leaves a hole in sequence_num.
        self.sequence += 2 if self.dice.hit("seq_skip") else 1
        return {
            "channel": channel,
            "client_id": "",
            "timestamp": cb_time(ts),
            "sequence_num": self.sequence - 1,
            "events": events,
        }

    def handle(
        self, message: Any, now: int, ticker: Frame | None, trades: list[Frame]
    ) -> list[Frame]:
        """A client message; ``ticker``/``trades`` are the current snapshot payloads."""
        if not isinstance(message, dict) or message.get("type") not in ("subscribe", "unsubscribe"):
            return [{"type": "error", "message": "Failed to parse message"}]
        channel = message.get("channel")
        if channel not in CHANNELS:
            return [
                {"type": "error", "message": f"Failed to subscribe: unknown channel {channel!r}"}
            ]
        products = message.get("product_ids") or []
        wrong_product = not isinstance(products, list) or products != [PRODUCT]
        if channel != "heartbeats" and message["type"] == "subscribe" and wrong_product:
            return [{"type": "error", "message": "Failed to subscribe: only BTC-USD is simulated"}]
        frames: list[Frame] = []
        if message["type"] == "unsubscribe":
            self.channels.discard(channel)
        else:
            self.channels.add(channel)
        frames.append(self._frame("subscriptions", now, [{"subscriptions": self._listing()}]))
        if message["type"] == "subscribe":
            if channel == "ticker" and ticker is not None:
                frames.append(
                    self._frame("ticker", now, [{"type": "snapshot", "tickers": [ticker]}])
                )
            if channel == "market_trades":
                frames.append(
                    self._frame("market_trades", now, [{"type": "snapshot", "trades": trades}])
                )
        return frames

    def _listing(self) -> dict[str, list[str]]:
        return {
            c: (["heartbeats"] if c == "heartbeats" else [PRODUCT]) for c in sorted(self.channels)
        }

    def on_ticker(self, payload: Frame, ts: int) -> list[Frame]:
        if "ticker" not in self.channels:
            return []
        return [self._frame("ticker", ts, [{"type": "update", "tickers": [payload]}])]

    def on_trade(self, payload: Frame, ts: int) -> list[Frame]:
        if "market_trades" not in self.channels:
            return []
        return [self._frame("market_trades", ts, [{"type": "update", "trades": [payload]}])]

    def heartbeat(self, ts: int, uptime_s: float) -> list[Frame]:
        if "heartbeats" not in self.channels:
            return []
        self.heartbeat_counter += 1
        self.last_heartbeat_ms = ts
        event = {
            "current_time": go_time(ts, uptime_s),
            "heartbeat_counter": str(self.heartbeat_counter),
        }
        return [self._frame("heartbeats", ts, [event])]


def ticker_payload(tick: SpotTicker, day: DayStats) -> Frame:
    change = (tick.price - day.open_24h) / day.open_24h * 100 if day.open_24h else 0.0
    return {
        "type": "ticker",
        "product_id": PRODUCT,
        "price": f"{tick.price:.2f}",
        "volume_24_h": f"{day.volume_24h:.8f}",
        "low_24_h": f"{min(day.low_24h, tick.price):.2f}",
        "high_24_h": f"{max(day.high_24h, tick.price):.2f}",
        "low_52_w": f"{min(day.low_52w, tick.price):.2f}",
        "high_52_w": f"{max(day.high_52w, tick.price):.2f}",
        "price_percent_chg_24_h": f"{change:.8f}",
        "best_bid": f"{tick.best_bid or tick.price:.2f}",
        "best_bid_quantity": "0.10000000",
        "best_ask": f"{tick.best_ask or tick.price:.2f}",
        "best_ask_quantity": "0.10000000",
    }


def trade_payload(trade: SpotTrade, side: str) -> Frame:
    return {
        "trade_id": trade.trade_id,
        "product_id": PRODUCT,
        "price": f"{trade.price:.2f}",
        "size": f"{trade.size:.8f}",
        "side": side,
        "time": cb_time(trade.ts),
    }
