"""What the Kalshi WS client knows of each market, and the ``MarketStatus`` events that follow.

Lifecycle messages carry only what changed (and often no open or close time), so they are
merged into metadata remembered from REST (times, strike) and fee messages (``fee_type``,
multiplier); every change then becomes a complete ``MarketStatus`` (interfaces.md §3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from fractions import Fraction
from typing import Any

from marketdata.kalshi.wire import (
    MarketInfo,
    MarketMeta,
    fee_fraction,
    mapping,
    result_value,
    strike_value,
    text,
)
from marketdata.model.events import MarketStatus
from marketdata.model.units import WireFormatError
from marketdata.wiretime import parse_epoch_s_ms

LIFECYCLE_EVENTS = frozenset(
    {
        "created",
        "activated",
        "deactivated",
        "close_date_updated",
        "determined",
        "settled",
        "price_level_structure_updated",
        "metadata_updated",
    }
)


def lifecycle(msg: Mapping[str, Any], known: MarketMeta | None) -> tuple[MarketMeta, int | None]:
    """Merge one ``market_lifecycle_v2`` message into what is known of the market.

    Returns the new metadata and the message's own time in ms, if it carries one.
    """
    event_type = text(msg, "event_type")
    if event_type not in LIFECYCLE_EVENTS:
        raise WireFormatError(f"event_type: unknown lifecycle event {event_type!r}")
    name = text(msg, "market_ticker")
    meta = known or MarketMeta(name, "listed", None, None, None)
    own_ts: int | None = None
    if msg.get("open_ts") is not None:
        meta = replace(meta, open_ts=parse_epoch_s_ms(msg["open_ts"], "open_ts"))
    if msg.get("close_ts") is not None:
        meta = replace(meta, close_ts=parse_epoch_s_ms(msg["close_ts"], "close_ts"))
    extra = msg.get("additional_metadata")
    strike_source = mapping(extra, "additional_metadata") if extra is not None else msg
    if strike_source.get("floor_strike") is not None:
        meta = replace(meta, strike=strike_value(strike_source["floor_strike"]))
    elif msg.get("floor_strike") is not None:
        meta = replace(meta, strike=strike_value(msg["floor_strike"]))

    if event_type == "created":
        meta = replace(meta, phase="listed")
    elif event_type == "activated":
        meta = replace(meta, phase="open")
    elif event_type == "deactivated":
        # A pause reads as closed (no entries); ``is_deactivated: false`` is the unpause.
        paused = msg.get("is_deactivated", True)
        meta = replace(meta, phase="closed" if paused is not False else "open")
    elif event_type == "determined":
        # An empty or scalar result leaves ``result`` None: settlement waits, never guesses.
        meta = replace(meta, phase="determined", result=result_value(msg.get("result")))
        if msg.get("determination_ts") is not None:
            own_ts = parse_epoch_s_ms(msg["determination_ts"], "determination_ts")
    elif event_type == "settled":
        meta = replace(meta, phase="finalized")
        if msg.get("result") is not None:
            meta = replace(meta, result=result_value(msg["result"]))
        if msg.get("settled_ts") is not None:
            own_ts = parse_epoch_s_ms(msg["settled_ts"], "settled_ts")
    return meta, own_ts


class MarketDirectory:
    """The markets of one series (``series_prefix``, e.g. ``KXBTC15M-``) and any remembered
    from REST; the lifecycle firehose carries every series, and the rest are not followed."""

    def __init__(self, series_prefix: str) -> None:
        self.series_prefix = series_prefix
        self.markets: dict[str, MarketMeta] = {}

    def remember(
        self,
        markets: Iterable[MarketInfo],
        *,
        fee_type: str | None = None,
        fee_multiplier: Fraction | None = None,
    ) -> None:
        for market in markets:
            known = self.markets.get(market.ticker)
            if known is not None and known.fee_override:
                fees = (known.fee_type, known.fee_multiplier)
            else:
                # ``is not None``, not truthiness: a multiplier of 0 (fee-free; VER A-11 saw
                # 0, 0.5 and 1 across series) is a value, not "unknown".
                fees = (
                    fee_type
                    if fee_type is not None
                    else (known.fee_type if known else "quadratic"),
                    fee_multiplier
                    if fee_multiplier is not None
                    else (known.fee_multiplier if known else Fraction(1)),
                )
            self.markets[market.ticker] = replace(
                market.meta(fee_type=fees[0], fee_multiplier=fees[1]),
                # A REST read lagging the WS ``determined`` has no result yet: a result once
                # known is kept (settlement must not wait on a read that raced it).
                result=market.result or (known.result if known is not None else None),
                fee_override=known.fee_override if known is not None else False,
            )

    def follows(self, ticker: str) -> bool:
        return ticker in self.markets or ticker.startswith(self.series_prefix)

    def on_lifecycle(
        self, msg: Mapping[str, Any], ts: int, recv_ts: int | None
    ) -> MarketStatus | None:
        """Merge a lifecycle message; the market's status now, dated by the message's own time
        where it has one, or None while its open time is still unknown."""
        ticker = text(msg, "market_ticker")
        meta, own_ts = lifecycle(msg, self.markets.get(ticker))
        self.markets[ticker] = meta
        return meta.status_event(own_ts if own_ts is not None else ts, recv_ts)

    def on_fee_update(
        self, msg: Mapping[str, Any], ts: int, recv_ts: int | None
    ) -> list[MarketStatus]:
        """An ``event_fee_update`` applies to every known market of the event."""
        event_ticker = text(msg, "event_ticker")
        fee_type = msg.get("fee_type_override")
        multiplier = msg.get("fee_multiplier_override")
        changed: list[MarketStatus] = []
        for ticker, meta in list(self.markets.items()):
            if not ticker.startswith(event_ticker + "-"):
                continue
            if isinstance(fee_type, str) and fee_type:
                meta = replace(meta, fee_type=fee_type, fee_override=True)
            if multiplier is not None:
                meta = replace(meta, fee_multiplier=fee_fraction(multiplier), fee_override=True)
            self.markets[ticker] = meta
            event = meta.status_event(ts, recv_ts)
            if event is not None:
                changed.append(event)
        return changed
