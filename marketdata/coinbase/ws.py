"""Coinbase Advanced Trade market-data WebSocket: BTC-USD ticker, trades, heartbeats
(exchange-protocols.md §5.1).

One subscribe message per channel (Coinbase refuses several in one). ``ticker`` frames become
``SpotTicker``, ``market_trades`` updates ``SpotTrade`` (the snapshot of past trades is not
replayed: those trades are history the recorder already has or never will), ``heartbeats``
``ClockTick`` carrying the exchange's time, so the stream's clock advances in quiet spells
(interfaces.md §4; the simulator's heartbeats carry simulated time).

Liveness: a heartbeat is due every second; none within ``heartbeat_timeout_s`` (default
10 s) means the connection is dead whatever TCP says, and it is replaced.

``sequence_num``: the docs say per product, the recorded frames (NT fixtures, the most
recent source, §7 point 14) show one counter per connection across all channels; that is
what is checked. A jump is counted as a gap (nothing to rebuild: no book is kept here); a
repeat or a lower number is out of order and dropped, as the docs prescribe.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import structlog

from marketdata.model.events import ClockTick, EventSink, SpotTicker, SpotTrade
from marketdata.model.units import WireFormatError
from marketdata.ratelimit import Backoff
from marketdata.wiretime import parse_time_ms
from marketdata.wsfeed import ReconnectingFeed, wall_ms

log = structlog.get_logger(__name__)

CHANNELS = ("heartbeats", "ticker", "market_trades")


def btc_number(value: object, name: str, *, allow_zero: bool = False) -> float:
    """A Coinbase decimal string → float (BTC prices are signal inputs, interfaces.md §1)."""
    if not isinstance(value, str):
        raise WireFormatError(f"{name}: expected a decimal string, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise WireFormatError(f"{name}: not a number: {value!r}") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise WireFormatError(f"{name}: out of range: {value!r}")
    return number


def optional_btc(obj: Mapping[str, Any], name: str) -> float | None:
    value = obj.get(name)
    if value is None or value == "":
        return None
    return btc_number(value, name)


def _events(frame: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    events = frame.get("events")
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise WireFormatError("events: expected a list of objects")
    return events


class CoinbaseWsClient(ReconnectingFeed):
    feed_name = "coinbase"

    def __init__(
        self,
        url: str,
        on_event: EventSink,
        *,
        product_id: str = "BTC-USD",
        heartbeat_timeout_s: float = 10.0,
        heartbeat_ticks: bool = True,
        backoff: Backoff | None = None,
        clock_ms: Callable[[], int] = wall_ms,
        client_ping_interval_s: float | None = 20.0,
    ) -> None:
        super().__init__(
            url,
            on_event,
            liveness_timeout_s=heartbeat_timeout_s,
            backoff=backoff,
            clock_ms=clock_ms,
            client_ping_interval_s=client_ping_interval_s,
        )
        self.product_id = product_id
        self.heartbeat_ticks = heartbeat_ticks
        self._expected_seq: int | None = None
        self.last_heartbeat_ts: int | None = None

    async def on_connected(self) -> None:
        self._expected_seq = None  # the counter starts over with each connection
        for channel in CHANNELS:
            # heartbeats take no product list on the real feed, but accept one; sending it
            # keeps the three messages the same shape.
            self.send({"type": "subscribe", "product_ids": [self.product_id], "channel": channel})

    def session_tasks(self) -> list[Coroutine[Any, Any, None]]:
        return []

    def handle_frame(self, frame: Any, recv_ts: int) -> None:
        if frame.get("type") == "error":
            self.stats.exchange_errors += 1
            log.warning("coinbase_error", message=frame.get("message"))
            return
        channel = frame.get("channel")
        if not isinstance(channel, str):
            raise WireFormatError("frame without a channel")
        if not self._sequence_ok(frame.get("sequence_num")):
            return
        if channel == "heartbeats":
            self._heartbeats(frame, recv_ts)
        elif channel == "ticker":
            self._ticker(frame, recv_ts)
        elif channel == "market_trades":
            self._trades(frame, recv_ts)
        else:
            self.stats.ignored += 1  # subscriptions acks and anything we did not ask for

    def _sequence_ok(self, seq: object) -> bool:
        if seq is None:
            return True
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise WireFormatError(f"sequence_num: expected an integer, got {seq!r}")
        expected = self._expected_seq
        if expected is None or seq == expected:
            self._expected_seq = seq + 1
            return True
        if seq > expected:
            self.stats.seq_gaps += 1
            log.info("coinbase_seq_gap", expected=expected, got=seq)
            self._expected_seq = seq + 1
            return True
        self.stats.ignored += 1  # repeated or out of order: the docs say ignore it
        return False

    def _heartbeats(self, frame: Mapping[str, Any], recv_ts: int) -> None:
        times = [parse_time_ms(e.get("current_time"), "current_time") for e in _events(frame)]
        for ts in times:
            self.mark_alive()
            self.last_heartbeat_ts = ts
            if self.heartbeat_ticks:
                self.emit(ClockTick(ts=ts, recv_ts=recv_ts))

    def _ticker(self, frame: Mapping[str, Any], recv_ts: int) -> None:
        ts = parse_time_ms(frame.get("timestamp"), "timestamp")
        parsed: list[SpotTicker] = []
        for event in _events(frame):
            tickers = event.get("tickers")
            if not isinstance(tickers, list):
                raise WireFormatError("tickers: expected a list")
            for ticker in tickers:
                if not isinstance(ticker, dict):
                    raise WireFormatError("ticker: expected an object")
                if ticker.get("product_id") != self.product_id:
                    continue
                parsed.append(
                    SpotTicker(
                        ts=ts,
                        price=btc_number(ticker.get("price"), "price"),
                        best_bid=optional_btc(ticker, "best_bid"),
                        best_ask=optional_btc(ticker, "best_ask"),
                        recv_ts=recv_ts,
                    )
                )
        # Parse the whole frame before emitting any of it: a malformed frame emits nothing.
        for spot in parsed:
            self.emit(spot)

    def _trades(self, frame: Mapping[str, Any], recv_ts: int) -> None:
        parsed: list[SpotTrade] = []
        for event in _events(frame):
            if event.get("type") == "snapshot":
                continue
            trades = event.get("trades")
            if not isinstance(trades, list):
                raise WireFormatError("trades: expected a list")
            for trade in trades:
                if not isinstance(trade, dict):
                    raise WireFormatError("trade: expected an object")
                if trade.get("product_id") != self.product_id:
                    continue
                parsed.append(
                    SpotTrade(
                        ts=parse_time_ms(trade.get("time"), "time"),
                        price=btc_number(trade.get("price"), "price"),
                        size=btc_number(trade.get("size"), "size"),
                        trade_id=str(trade.get("trade_id") or ""),
                        recv_ts=recv_ts,
                    )
                )
        # Coinbase batches newest first on cascades; the engine wants time order.
        parsed.sort(key=lambda t: t.ts)
        for spot in parsed:
            self.emit(spot)
