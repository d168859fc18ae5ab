"""Kalshi WebSocket v2 (exchange-protocols.md §2): commands, subscriptions, dense seq.

One ``KalshiSession`` per connection. ``seq`` is per subscription (sid), dense, starting at
1, shared by all markets of the sid; snapshots and ``ok``/``unsubscribed`` replies take the
next number (observed in production, §2.7). ``orderbook_delta`` and ``trade`` frames carry
``seq`` (trade: seen live though not in the schema; we follow the live observation),
``ticker`` and ``market_lifecycle_v2`` do not. A second ``subscribe`` to a channel already
held merges markets into the existing sid (observed, §2.4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from marketdata.model.events import BookDelta, MarketStatus, PublicTrade
from marketdata.sim.faults import FaultDice
from marketdata.sim.ledger import AccountEvent
from marketdata.sim.state import PublicState
from marketdata.sim.wire import market_id, ws_delta, ws_snapshot, ws_ticker, ws_trade

PRIVATE = {"fill": "fill", "user_orders": "user_order", "market_positions": "market_position"}
CHANNELS = ("orderbook_delta", "ticker", "trade", "market_lifecycle_v2", *PRIVATE)
NOT_SIMULATED = ("order_group_updates",)
SEQUENCED = ("orderbook_delta", "trade")
LIFECYCLE_EVENT = {
    "listed": "created",
    "open": "activated",
    "closed": "close_date_updated",
    "determined": "determined",
    "finalized": "settled",
}

Frame = dict[str, Any]


class CommandError(Exception):
    def __init__(self, code: int, message: str, ticker: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.ticker = ticker


@dataclass
class Subscription:
    sid: int
    channel: str
    tickers: set[str] | None  # None = every market
    seq: int = 0
    yes_price: bool = False  # ``use_yes_price``: NO levels on the YES scale (orderbook only)


@dataclass
class KalshiSession:
    state: PublicState
    dice: FaultDice
    known_market: Callable[[str], bool]
    user_id: str = ""  # the API key of the handshake: private channels carry only its own
    # ``use_yes_price`` when a subscribe omits it: false today, "will flip to true" (§2.3).
    use_yes_price_default: bool = False
    subs: dict[int, Subscription] = field(default_factory=dict)
    next_sid: int = 1

    # --- commands ------------------------------------------------------------------------

    def handle(self, command: Any) -> list[Frame]:
        if not isinstance(command, dict):
            return [_error(0, 1, "Unable to process message")]
        cmd_id = command.get("id", 0)
        cmd_id = cmd_id if isinstance(cmd_id, int) and not isinstance(cmd_id, bool) else 0
        try:
            name = command.get("cmd")
            params = command.get("params")
            if name == "list_subscriptions":
                listing = [{"channel": s.channel, "sid": s.sid} for s in self.subs.values()]
                return [{"id": cmd_id, "type": "ok", "msg": listing}]
            if name not in ("subscribe", "unsubscribe", "update_subscription"):
                raise CommandError(5, "Unknown command")
            if not isinstance(params, dict):
                raise CommandError(2, "Params required")
            if name == "subscribe":
                return self._subscribe(cmd_id, params)
            if name == "unsubscribe":
                return self._unsubscribe(cmd_id, params)
            return self._update(cmd_id, params)
        except CommandError as exc:
            return [_error(cmd_id, exc.code, str(exc), exc.ticker)]

    def _tickers(self, params: dict[str, Any]) -> list[str] | None:
        one, many = params.get("market_ticker"), params.get("market_tickers")
        if one is not None and many is not None:
            raise CommandError(11, "market_ticker and market_tickers are mutually exclusive")
        if one is not None:
            many = [one]
        if many is None:
            return None
        if not isinstance(many, list) or not all(isinstance(t, str) for t in many):
            raise CommandError(11, "Invalid parameter: market_tickers")
        for ticker in many:
            if not self.known_market(ticker):
                raise CommandError(16, "Market not found", ticker)
        return list(dict.fromkeys(many))

    def _subscribe(self, cmd_id: int, params: dict[str, Any]) -> list[Frame]:
        channels = params.get("channels")
        if not isinstance(channels, list) or not channels:
            raise CommandError(3, "Channels required")
        for channel in channels:
            if channel in NOT_SIMULATED:
                raise CommandError(8, f"Channel {channel} is not simulated")
            if channel not in CHANNELS:
                raise CommandError(8, "Unknown channel name")
        tickers = self._tickers(params)
        if "orderbook_delta" in channels and not tickers:
            raise CommandError(14, "Market ticker required")
        yes_price = params.get("use_yes_price", self.use_yes_price_default)
        if not isinstance(yes_price, bool):
            raise CommandError(11, "Invalid parameter: use_yes_price")
        frames: list[Frame] = []
        snapshots: list[Frame] = []
        for channel in channels:
            sub = next((s for s in self.subs.values() if s.channel == channel), None)
            added = list(tickers or [])
            if sub is None:
                sub = Subscription(self.next_sid, channel, set(tickers) if tickers else None)
                sub.yes_price = yes_price and channel == "orderbook_delta"
                self.subs[sub.sid] = sub
                self.next_sid += 1
            elif sub.tickers is not None:
                added = [t for t in added if t not in sub.tickers]
                sub.tickers = None if tickers is None else sub.tickers | set(tickers)
            frames.append(
                {"id": cmd_id, "type": "subscribed", "msg": {"channel": channel, "sid": sub.sid}}
            )
            if channel == "orderbook_delta":
                snapshots += [self._snapshot(sub, t) for t in added]
        return frames + snapshots

    def _unsubscribe(self, cmd_id: int, params: dict[str, Any]) -> list[Frame]:
        sids = params.get("sids")
        if not isinstance(sids, list) or not sids:
            raise CommandError(4, "Subscription IDs required")
        frames = []
        for sid in sids:
            sub = self.subs.pop(sid, None) if isinstance(sid, int) else None
            if sub is None:
                raise CommandError(7, "Unknown subscription ID")
            frames.append(
                {"id": cmd_id, "sid": sid, "seq": self._next_seq(sub), "type": "unsubscribed"}
            )
        return frames

    def _update(self, cmd_id: int, params: dict[str, Any]) -> list[Frame]:
        sids = params.get("sids", [params["sid"]] if "sid" in params else None)
        if not isinstance(sids, list) or len(sids) != 1:
            raise CommandError(12, "Exactly one subscription ID is required")
        sub = self.subs.get(sids[0]) if isinstance(sids[0], int) else None
        if sub is None:
            raise CommandError(7, "Unknown subscription ID")
        action = params.get("action")
        if action is None:
            raise CommandError(15, "Action required")
        if action not in ("add_markets", "delete_markets", "get_snapshot"):
            raise CommandError(13, "Unsupported action")
        tickers = self._tickers(params)
        if not tickers:
            raise CommandError(14, "Market ticker required")
        current = sub.tickers if sub.tickers is not None else set()
        fresh: list[str] = []
        if action == "add_markets":
            fresh = [t for t in tickers if t not in current]
            sub.tickers = current | set(tickers)
        elif action == "delete_markets":
            sub.tickers = current - set(tickers)
        elif sub.channel != "orderbook_delta":
            raise CommandError(13, "get_snapshot is only for orderbook_delta")
        else:
            fresh = [t for t in tickers if t in current]
        listing = sorted(sub.tickers or ())
        ok = {"id": cmd_id, "sid": sub.sid, "seq": self._next_seq(sub), "type": "ok"}
        ok["msg"] = {"market_tickers": listing}
        frames: list[Frame] = [ok]
        if sub.channel == "orderbook_delta":
            frames += [self._snapshot(sub, t) for t in fresh]
        return frames

    # --- data ----------------------------------------------------------------------------

    def _next_seq(self, sub: Subscription) -> int:
        # seq_skip fault: leave a hole, as a lost frame would.
        sub.seq += 2 if self.dice.hit("seq_skip") else 1
        return sub.seq

    def _snapshot(self, sub: Subscription, ticker: str) -> Frame:
        msg = ws_snapshot(self.state, ticker, yes_price=sub.yes_price)
        return {
            "type": "orderbook_snapshot",
            "sid": sub.sid,
            "seq": self._next_seq(sub),
            "msg": msg,
        }

    def _subscribers(self, channel: str, ticker: str) -> list[Subscription]:
        return [
            s
            for s in self.subs.values()
            if s.channel == channel and (s.tickers is None or ticker in s.tickers)
        ]

    def on_delta(self, delta: BookDelta, owner: str | None = None) -> list[Frame]:
        subs = self._subscribers("orderbook_delta", delta.ticker)
        if not subs:
            return []
        frames = []
        for sub in subs:
            msg = ws_delta(delta, yes_price=sub.yes_price)
            # ``client_order_id`` is present only when your own order caused it (§2.6).
            if delta.client_order_id and owner is not None and owner == self.user_id:
                msg["client_order_id"] = delta.client_order_id
            frames.append(
                {"type": "orderbook_delta", "sid": sub.sid, "seq": self._next_seq(sub), "msg": msg}
            )
        return frames

    def on_account(self, event: AccountEvent) -> list[Frame]:
        """Own fills, order updates and positions; these channels carry no ``seq`` (§2.5)."""
        if event.user_id != self.user_id:
            return []
        kind = PRIVATE[event.channel]
        return [
            {"type": kind, "sid": s.sid, "msg": event.msg}
            for s in self._subscribers(event.channel, event.ticker)
        ]

    def on_trade(self, trade: PublicTrade) -> list[Frame]:
        return [
            {"type": "trade", "sid": s.sid, "seq": self._next_seq(s), "msg": ws_trade(trade)}
            for s in self._subscribers("trade", trade.ticker)
        ]

    def on_ticker(self, ticker: str, ts: int) -> list[Frame]:
        subs = self._subscribers("ticker", ticker)
        if not subs:
            return []
        msg = ws_ticker(self.state, ticker, ts)
        return [{"type": "ticker", "sid": s.sid, "msg": msg} for s in subs]

    def on_status(self, status: MarketStatus, event_ticker: str) -> list[Frame]:
        subs = [s for s in self.subs.values() if s.channel == "market_lifecycle_v2"]
        if not subs:
            return []
        frames = []
        for msg in lifecycle_msgs(status, event_ticker):
            frames += [{"type": "market_lifecycle_v2", "sid": s.sid, "msg": msg} for s in subs]
        return frames


def lifecycle_msgs(status: MarketStatus, event_ticker: str) -> list[dict[str, Any]]:
    """The lifecycle message(s) of a phase change. At open the strike becomes known; Kalshi
    carries strike fields on ``metadata_updated`` (§2.6), so that follows ``activated``."""
    msg: dict[str, Any] = {
        "event_type": LIFECYCLE_EVENT[status.status],
        "market_ticker": status.ticker,
        "market_id": market_id(status.ticker),
    }
    close_s = (status.close_ts or 0) // 1000
    if status.status == "listed":
        msg |= {
            "open_ts": status.open_ts // 1000,
            "close_ts": close_s,
            "additional_metadata": {
                "title": "BTC price up in next 15 mins?",
                "event_ticker": event_ticker,
                "expected_expiration_ts": close_s + 300,
                "strike_type": "greater_or_equal",
                "yes_sub_title": "Target price: TBD",
            },
        }
    elif status.status == "open":
        metadata = {
            "event_type": "metadata_updated",
            "market_ticker": status.ticker,
            "market_id": market_id(status.ticker),
            "floor_strike": status.strike,
            "yes_sub_title": f"Target Price: ${status.strike or 0:,.2f}",
        }
        return [msg, metadata]
    elif status.status == "closed":
        msg["close_ts"] = close_s
    elif status.status == "determined":
        msg |= {
            "result": status.result,
            "determination_ts": status.ts // 1000,
            "settlement_value": "1.0000" if status.result == "yes" else "0.0000",
        }
    elif status.status == "finalized":
        msg["settled_ts"] = status.ts // 1000
    return [msg]


def _error(cmd_id: int, code: int, message: str, ticker: str | None = None) -> Frame:
    msg: dict[str, Any] = {"code": code, "msg": message}
    if ticker is not None:
        msg["market_ticker"] = ticker
    return {"id": cmd_id, "type": "error", "msg": msg}
