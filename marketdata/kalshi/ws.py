"""Kalshi WebSocket client (exchange-protocols.md §2): signed handshake, subscriptions that
follow the wanted ticker set, seq-checked books, liveness from protocol pings.

Sequence rule (§2.7, from the observed behaviour since Kalshi documents none): ``seq`` is
tracked per (connection, sid) before routing by type; a skip, a repeat or a decrease marks
every book on that subscription invalid and asks for fresh snapshots with
``update_subscription``/``get_snapshot``. Deltas for an invalid book are dropped until its
snapshot arrives, so a consumer never applies a delta to a book that missed one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from urllib.parse import urlparse

import structlog

from marketdata.kalshi import ws_parse
from marketdata.kalshi.market_meta import MarketDirectory
from marketdata.kalshi.signing import KalshiSigner
from marketdata.kalshi.wire import MarketInfo, mapping, text
from marketdata.model.events import EventSink
from marketdata.model.units import WireFormatError
from marketdata.ratelimit import Backoff
from marketdata.wsfeed import ReconnectingFeed, wall_ms

log = structlog.get_logger(__name__)

BOOK_CHANNEL = "orderbook_delta"
DEFAULT_MARKET_CHANNELS = (BOOK_CHANNEL, "trade")
DEFAULT_GLOBAL_CHANNELS = ("market_lifecycle_v2",)
DEFAULT_ACCOUNT_CHANNELS = ("fill", "user_orders")
TERMINAL_ERROR_CODES = frozenset({10, 17, 25})  # subscription is dead: resubscribe (§2.4)
INVALID_PARAMETER = 11


@dataclass(slots=True)
class _Command:
    cmd: str
    params: dict[str, Any]


class KalshiWsClient(ReconnectingFeed):
    """One multiplexed Kalshi WS connection.

    ``set_markets`` says which tickers' books/trades to follow (the subscription manager
    calls it); the client adds and removes them live and resubscribes after a reconnect.
    ``remember_markets`` gives it the REST metadata that lifecycle messages lack (open and
    close times, strike, fees) so every lifecycle change becomes a complete ``MarketStatus``.
    ``event_time_fallback`` (the driver's latest event time) dates frames that carry no
    exchange time before the connection has seen one.
    """

    feed_name = "kalshi"

    def __init__(
        self,
        url: str,
        signer: KalshiSigner,
        on_event: EventSink,
        *,
        series_prefix: str = "KXBTC15M-",
        market_channels: Iterable[str] = DEFAULT_MARKET_CHANNELS,
        global_channels: Iterable[str] = DEFAULT_GLOBAL_CHANNELS,
        account_channels: Iterable[str] = DEFAULT_ACCOUNT_CHANNELS,
        ping_timeout_s: float = 30.0,
        backoff: Backoff | None = None,
        clock_ms: Callable[[], int] = wall_ms,
        client_ping_interval_s: float | None = 20.0,
        event_time_fallback: Callable[[], int | None] | None = None,
    ) -> None:
        super().__init__(
            url,
            on_event,
            liveness_timeout_s=ping_timeout_s,
            backoff=backoff,
            clock_ms=clock_ms,
            client_ping_interval_s=client_ping_interval_s,
        )
        self.signer = signer
        self.market_channels = tuple(market_channels)
        self.global_channels = tuple(global_channels)
        self.account_channels = tuple(account_channels)
        self.wanted: frozenset[str] = frozenset()
        self.directory = MarketDirectory(series_prefix)
        self._dirty = asyncio.Event()
        self._rejected: set[str] = set()  # tickers the exchange called unknown (code 16)
        # Latest exchange time seen (kept across reconnects), for frames that carry none.
        self._last_exchange_ts: int | None = None
        self._now_fallback = event_time_fallback
        # Cleared only if the exchange refuses the parameter (code 11) on the subscribe that
        # carries it: today's default is the same false, so dropping it loses nothing now.
        self._ask_use_yes_price = True
        self._reset_connection_state()

    def _reset_connection_state(self) -> None:
        self._next_id = 1
        self._pending: dict[int, _Command] = {}
        self._sid_channel: dict[int, str] = {}
        self._channel_sid: dict[str, int] = {}
        self._expected_seq: dict[int, int] = {}
        self._subscribed: set[str] = set()  # tickers requested on the market channels
        self._market_sub_requested = False
        self._valid_books: set[str] = set()

    # --- public API ----------------------------------------------------------------------

    def set_markets(self, tickers: Iterable[str]) -> None:
        """The tickers to follow from now on; the difference is applied on the live socket."""
        wanted = frozenset(tickers)
        if wanted != self.wanted:
            self.wanted = wanted
            self._rejected.clear()
            self._dirty.set()

    def remember_markets(
        self,
        markets: Iterable[MarketInfo],
        *,
        fee_type: str | None = None,
        fee_multiplier: Fraction | None = None,
    ) -> None:
        self.directory.remember(markets, fee_type=fee_type, fee_multiplier=fee_multiplier)

    @property
    def subscribed_markets(self) -> frozenset[str]:
        return frozenset(self._subscribed)

    @property
    def valid_books(self) -> frozenset[str]:
        """Tickers whose book is whole on this connection (snapshot seen, no gap since)."""
        return frozenset(self._valid_books)

    # --- connection hooks ----------------------------------------------------------------

    def handshake_headers(self) -> dict[str, str]:
        # The WS signature covers GET + the URL's path (``/trade-api/ws/v2`` on every host).
        return self.signer.headers("GET", urlparse(self.url).path or "/trade-api/ws/v2")

    async def on_connected(self) -> None:
        # Reconnection resets sids and seqs (§2.7): start from a clean slate.
        self._reset_connection_state()
        for channels in (self.global_channels, self.account_channels):
            if channels:
                self._command("subscribe", {"channels": list(channels)})
        self._sync_markets()

    def session_tasks(self) -> list[Coroutine[Any, Any, None]]:
        return [self._follow_wanted()]

    async def _follow_wanted(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            self._sync_markets()

    def _command(self, cmd: str, params: dict[str, Any] | None = None) -> int:
        command_id = self._next_id
        self._next_id += 1
        message: dict[str, Any] = {"id": command_id, "cmd": cmd}
        if params is not None:
            message["params"] = params
        self._pending[command_id] = _Command(cmd, params or {})
        self.send(message)
        return command_id

    def _sync_markets(self) -> None:
        """Bring the market-channel subscription in line with ``wanted``."""
        if not self.market_channels:
            return
        add = sorted(self.wanted - self._subscribed - self._rejected)
        remove = sorted(self._subscribed - self.wanted)
        if not add and not remove:
            return
        if not self._market_sub_requested:
            if add:
                params: dict[str, Any] = {
                    "channels": list(self.market_channels),
                    "market_tickers": add,
                }
                if BOOK_CHANNEL in self.market_channels and self._ask_use_yes_price:
                    # Said explicitly: the default is false today but "will flip to true"
                    # (protocols §2.3), which would put NO bids on the YES scale and turn
                    # every NO level of our books into the wrong price.
                    params["use_yes_price"] = False
                self._command("subscribe", params)
                self._market_sub_requested = True
                self._subscribed.update(add)
            return
        sids = [self._channel_sid.get(channel) for channel in self.market_channels]
        if any(sid is None for sid in sids):
            return  # acks still in flight: ``_on_subscribed`` tries again when they land
        for sid in sids:
            if add:
                self._update(sid, "add_markets", add)
            if remove:
                self._update(sid, "delete_markets", remove)
        self._subscribed.update(add)
        self._subscribed.difference_update(remove)
        self._valid_books.difference_update(remove)

    def _update(self, sid: int | None, action: str, tickers: list[str]) -> None:
        self._command(
            "update_subscription", {"sids": [sid], "market_tickers": tickers, "action": action}
        )

    # --- frames --------------------------------------------------------------------------

    def handle_frame(self, frame: Any, recv_ts: int) -> None:
        kind = frame.get("type")
        if not isinstance(kind, str):
            raise WireFormatError(f"frame without a type: {sorted(frame)!r}")
        sid = frame.get("sid")
        seq = frame.get("seq")
        if seq is not None:
            if isinstance(seq, bool) or not isinstance(seq, int) or not isinstance(sid, int):
                raise WireFormatError(f"bad sid/seq: sid={sid!r} seq={seq!r}")
            if not self._check_seq(sid, seq) and kind != "orderbook_snapshot":
                return  # a repeated or stale frame: already seen or superseded
        if kind in _CONTROL:
            _CONTROL[kind](self, frame)
            return
        handler = _DATA.get(kind)
        if handler is None:
            self.stats.ignored += 1
            return
        try:
            msg = mapping(frame.get("msg"), "msg")
            own_ts = ws_parse.exchange_ts(msg)
            if own_ts is not None and (
                self._last_exchange_ts is None or own_ts > self._last_exchange_ts
            ):
                self._last_exchange_ts = own_ts
            ts = own_ts if own_ts is not None else self._fallback_ts(recv_ts)
            handler(self, msg, ts, recv_ts)
        except (WireFormatError, KeyError, TypeError, ValueError):
            if kind in ("orderbook_snapshot", "orderbook_delta") and isinstance(sid, int):
                # A book frame we could not read is a lost update: the book is wrong now.
                self._resnapshot(sid)
            raise

    def _fallback_ts(self, recv_ts: int) -> int:
        """Time for a frame without its own (snapshots, most lifecycle messages): the latest
        exchange time seen, else the driver's event time, else the read time. The read time is
        right in production only; in a simulation at 60x it would jump the stream's clock."""
        if self._last_exchange_ts is not None:
            return self._last_exchange_ts
        if self._now_fallback is not None:
            fallback = self._now_fallback()
            if fallback is not None:
                return fallback
        return recv_ts

    def _check_seq(self, sid: int, seq: int) -> bool:
        """True when the frame is new (in order or past a gap); False for a repeat/decrease."""
        expected = self._expected_seq.get(sid)
        self._expected_seq[sid] = seq + 1
        if expected is None or seq == expected:
            return True
        self.stats.seq_gaps += 1
        log.warning(
            "kalshi_seq_gap",
            sid=sid,
            expected=expected,
            got=seq,
            channel=self._sid_channel.get(sid),
        )
        self._resnapshot(sid)
        return seq > expected

    def _resnapshot(self, sid: int) -> None:
        if self._sid_channel.get(sid) != BOOK_CHANNEL:
            return  # trades carry no state to rebuild; the gap is counted
        tickers = sorted(self._subscribed)
        self._valid_books.difference_update(tickers)
        if tickers:
            self.stats.resnapshots += 1
            self._update(sid, "get_snapshot", tickers)

    # control frames

    def _on_subscribed(self, frame: dict[str, Any]) -> None:
        msg = mapping(frame.get("msg"), "msg")
        channel, sid = text(msg, "channel"), msg.get("sid")
        if isinstance(sid, bool) or not isinstance(sid, int):
            raise WireFormatError(f"subscribed: bad sid {sid!r}")
        self._sid_channel[sid] = channel
        self._channel_sid[channel] = sid
        self._expected_seq.pop(sid, None)
        if channel in self.market_channels:
            self._dirty.set()

    def _on_unsubscribed(self, frame: dict[str, Any]) -> None:
        sid = frame.get("sid")
        channel = self._sid_channel.pop(sid, None) if isinstance(sid, int) else None
        if channel is not None:
            self._channel_sid.pop(channel, None)

    def _on_ok(self, frame: dict[str, Any]) -> None:
        command_id = frame.get("id")
        if isinstance(command_id, int):
            self._pending.pop(command_id, None)

    def _on_error(self, frame: dict[str, Any]) -> None:
        raw_msg = frame.get("msg")
        msg: dict[str, Any] = raw_msg if isinstance(raw_msg, dict) else {}
        code = msg.get("code")
        command_id = frame.get("id")
        command = self._pending.pop(command_id, None) if isinstance(command_id, int) else None
        self.stats.exchange_errors += 1
        log.warning(
            "kalshi_ws_error",
            code=code,
            message=msg.get("msg"),
            command=command.cmd if command else None,
            params=command.params if command else None,
        )
        if (
            command is not None
            and command.cmd == "subscribe"
            and code == INVALID_PARAMETER
            and "use_yes_price" in command.params
        ):
            self._ask_use_yes_price = False
            log.warning("kalshi_use_yes_price_refused", message=msg.get("msg"))
        if command is not None and command.params.get("action") != "get_snapshot":
            self._market_command_failed(command, msg)
        if code in TERMINAL_ERROR_CODES:
            self.reconnect(f"terminal subscription error {code}")
        elif command is not None and command.params.get("action") == "get_snapshot":
            # No way to refresh in place: a fresh connection brings fresh snapshots.
            self.reconnect(f"get_snapshot refused ({code})")

    def _market_command_failed(self, command: _Command, msg: dict[str, Any]) -> None:
        """A refused subscribe/add: forget those tickers so the next sync retries them,
        except one the exchange says does not exist, which waits for a new wanted set."""
        tickers = command.params.get("market_tickers")
        if not isinstance(tickers, list) or command.params.get("action") == "delete_markets":
            return
        if command.cmd == "subscribe":
            self._market_sub_requested = False
        self._subscribed.difference_update(tickers)
        self._valid_books.difference_update(tickers)
        rejected = msg.get("market_ticker")
        if isinstance(rejected, str):
            self._rejected.add(rejected)
        self._dirty.set()

    # data frames

    def _on_snapshot(self, msg: Mapping[str, Any], ts: int, recv_ts: int) -> None:
        event = ws_parse.snapshot(msg, ts, recv_ts)
        if event.ticker not in self._subscribed:
            self.stats.ignored += 1
            return
        self._valid_books.add(event.ticker)
        self.emit(event)

    def _on_delta(self, msg: Mapping[str, Any], ts: int, recv_ts: int) -> None:
        event = ws_parse.delta(msg, ts, recv_ts)
        if event.ticker not in self._valid_books:
            self.stats.ignored += 1  # book awaiting its snapshot, or unsubscribed
            return
        self.emit(event)

    def _on_trade(self, msg: Mapping[str, Any], ts: int, recv_ts: int) -> None:
        self.emit(ws_parse.trade(msg, ts, recv_ts))

    def _on_ticker(self, msg: Mapping[str, Any], ts: int, recv_ts: int) -> None:
        ws_parse.ticker(msg)

    def _on_fill(self, msg: Mapping[str, Any], ts: int, recv_ts: int) -> None:
        self.emit(ws_parse.fill(msg, ts, recv_ts))

    def _on_user_order(self, msg: Mapping[str, Any], ts: int, recv_ts: int) -> None:
        self.emit(ws_parse.user_order(msg, ts, recv_ts))

    def _on_lifecycle(self, msg: Mapping[str, Any], ts: int, recv_ts: int) -> None:
        ticker = text(msg, "market_ticker")
        if not self.directory.follows(ticker):
            self.stats.ignored += 1  # the firehose carries every series
            return
        event = self.directory.on_lifecycle(msg, ts, recv_ts)
        if event is None:
            log.info(
                "kalshi_lifecycle_without_times", ticker=ticker, event_type=msg.get("event_type")
            )
            return
        self.emit(event)

    def _on_fee_update(self, msg: Mapping[str, Any], ts: int, recv_ts: int) -> None:
        for event in self.directory.on_fee_update(msg, ts, recv_ts):
            self.emit(event)


_CONTROL: dict[str, Callable[[KalshiWsClient, dict[str, Any]], None]] = {
    "subscribed": KalshiWsClient._on_subscribed,
    "unsubscribed": KalshiWsClient._on_unsubscribed,
    "ok": KalshiWsClient._on_ok,
    "error": KalshiWsClient._on_error,
}

_DATA: dict[str, Callable[[KalshiWsClient, Mapping[str, Any], int, int], None]] = {
    "orderbook_snapshot": KalshiWsClient._on_snapshot,
    "orderbook_delta": KalshiWsClient._on_delta,
    "trade": KalshiWsClient._on_trade,
    "ticker": KalshiWsClient._on_ticker,
    "fill": KalshiWsClient._on_fill,
    "user_order": KalshiWsClient._on_user_order,
    "market_lifecycle_v2": KalshiWsClient._on_lifecycle,
    "event_fee_update": KalshiWsClient._on_fee_update,
}
