"""What the recorder derives from the event stream besides the journal itself.

Typed tables for people and SQL: live 1-minute and 15-minute spot candles (closed on event
time, like the engine's), a top-of-book snapshot every 30 s of event time per ticker,
public trades and market metadata/settlements. Derivation runs once per batch, off the
event loop, and keeps its own books and aggregators: it never reads the engine's state.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import structlog

from marketdata.model.book import DEPTH_LEVELS, OrderBook
from marketdata.model.candles import Candle as Bar
from marketdata.model.candles import CandleAggregator
from marketdata.model.events import (
    EVENT_TYPES,
    BookDelta,
    BookSnapshot,
    Event,
    MarketStatus,
    PublicTrade,
    SpotTicker,
    SpotTrade,
    event_to_dict,
)
from marketdata.model.units import count_to_decimal, price_to_decimal
from marketdata.models import Candle, Market, OrderBookSnapshot, PublicTradeRecord
from marketdata.recorder.rows import btc_to_decimal, ms_to_utc

log = structlog.get_logger(__name__)

CANDLE_INTERVALS_S = (60, 900)
SNAPSHOT_INTERVAL_MS = 30_000
_ENDED_PHASES = frozenset({"closed", "determined", "finalized"})

# (seq, ts datetime, kind, ticker, fields as JSON text): one journal row before its session id
EventRow = tuple[int, datetime, str, str, str]


@dataclass(slots=True)
class PreparedBatch:
    """Rows for one batch, built once so a retried flush writes exactly the same rows."""

    first_seq: int
    last_seq: int
    events: int
    event_rows: list[EventRow] = field(default_factory=list)  # or, for COPY:
    copy_lines: list[str] = field(default_factory=list)  # "seq\tts\tkind\tticker\tjson\n"
    candles: list[Candle] = field(default_factory=list)
    snapshots: list[OrderBookSnapshot] = field(default_factory=list)
    trades: list[PublicTradeRecord] = field(default_factory=list)
    markets: dict[str, Market] = field(default_factory=dict)
    source: Sequence[tuple[int, Event]] = ()  # the batch itself: spilled if never stored


class StreamDeriver:
    """Turns ``(seq, event)`` batches into journal rows and derived rows, keeping state."""

    def __init__(
        self, *, snapshot_interval_ms: int = SNAPSHOT_INTERVAL_MS, copy_text: bool = False
    ) -> None:
        # copy_text: build the journal as COPY text lines (PostgreSQL) on the preparing thread,
        # so the writing thread hands PostgreSQL one string instead of formatting 5000 rows.
        self.copy_text = copy_text
        self.snapshot_interval_ms = snapshot_interval_ms
        self.books: dict[str, OrderBook] = {}
        self.aggregators = [CandleAggregator(interval_s) for interval_s in CANDLE_INTERVALS_S]
        self.book_errors = 0
        self.derive_errors = 0
        self._window: int | None = None  # index of the current snapshot window

    def prepare(self, batch: Sequence[tuple[int, Event]]) -> PreparedBatch:
        prepared = PreparedBatch(
            first_seq=batch[0][0], last_seq=batch[-1][0], events=len(batch), source=batch
        )
        rows = prepared.event_rows
        lines = prepared.copy_lines
        for seq, event in batch:
            ticker = getattr(event, "ticker", "")
            when = ms_to_utc(event.ts)
            text = journal_json(event)
            if self.copy_text:
                fields = (str(seq), when.isoformat(), event.kind, ticker, text)
                lines.append("\t".join(map(_copy_escape, fields)) + "\n")
            else:
                rows.append((seq, when, event.kind, ticker, text))
            try:
                self._derive(event, prepared)
            except Exception:
                # The journal row above is what replay needs; a derived row is a convenience
                # and must never cost the journal an event.
                self.derive_errors += 1
                log.exception("recorder_derive_failed", seq=seq, kind=event.kind)
        return prepared

    def _derive(self, event: Event, out: PreparedBatch) -> None:
        window = event.ts // self.snapshot_interval_ms
        if self._window is None:
            self._window = window
        elif window > self._window:
            self._window = window
            self._snapshot_books(window * self.snapshot_interval_ms, out)
        for aggregator in self.aggregators:
            for bar in aggregator.advance(event.ts):
                out.candles.append(_candle_row(bar))
        if isinstance(event, SpotTrade | SpotTicker):
            volume = event.size if isinstance(event, SpotTrade) else 0.0
            for aggregator in self.aggregators:
                for bar in aggregator.update(event.ts, event.price, volume):
                    out.candles.append(_candle_row(bar))
        elif isinstance(event, BookSnapshot):
            self.books.setdefault(event.ticker, OrderBook(event.ticker)).apply(event)
        elif isinstance(event, BookDelta):
            known = self.books.get(event.ticker)
            if known is not None:  # deltas before the first snapshot describe no known book
                try:
                    known.apply(event)
                except ValueError:
                    self.book_errors += 1
                    log.warning("recorder_bad_book_delta", ticker=event.ticker, price=event.price)
        elif isinstance(event, PublicTrade):
            out.trades.append(_trade_row(event))
        elif isinstance(event, MarketStatus):
            out.markets[event.ticker] = _market_row(event)
            if event.status in _ENDED_PHASES:
                self.books.pop(event.ticker, None)

    def _snapshot_books(self, ts: int, out: PreparedBatch) -> None:
        """The state of every live book as of the boundary (all events before it applied)."""
        when = ms_to_utc(ts)
        for ticker, book in self.books.items():
            yes_bids = book.yes_bids(DEPTH_LEVELS)
            no_bids = book.no_bids(DEPTH_LEVELS)
            yes_depth = sum(count for _, count in yes_bids)
            no_depth = sum(count for _, count in no_bids)
            bid, ask = book.best_yes_bid, book.best_yes_ask
            total = yes_depth + no_depth
            out.snapshots.append(
                OrderBookSnapshot(
                    ticker=ticker,
                    ts=when,
                    yes_bids=[list(level) for level in yes_bids],
                    no_bids=[list(level) for level in no_bids],
                    best_yes_bid=None if bid is None else price_to_decimal(bid),
                    best_yes_ask=None if ask is None else price_to_decimal(ask),
                    yes_depth=count_to_decimal(yes_depth),
                    no_depth=count_to_decimal(no_depth),
                    obi=yes_depth / total if total else None,
                )
            )


_ENCODE = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
# Kinds whose fields are all JSON scalars already; the others (tuples of levels, a Fraction)
# go through event_to_dict. Same JSON either way: the hot loop just skips dataclasses.fields()
# and a type check per field, which cost more than the encoding itself.
_PLAIN_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls))
    for cls in EVENT_TYPES.values()
    if cls not in (BookSnapshot, MarketStatus)
}


def _copy_escape(text: str) -> str:
    """COPY text format: backslash, tab and line breaks must be escaped (JSON text has no raw
    tabs or newlines, but its own escapes contain backslashes)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def journal_json(event: Event) -> str:
    """``event_to_dict(event)`` as compact JSON text, the journal's ``fields`` column."""
    names = _PLAIN_FIELDS.get(type(event))
    if names is None:
        return _ENCODE(event_to_dict(event))
    return _ENCODE({name: getattr(event, name) for name in names})


def _candle_row(bar: Bar) -> Candle:
    return Candle(
        source=Candle.SOURCE_LIVE,
        interval_s=bar.interval_s,
        open_time=ms_to_utc(bar.start_ts),
        open=btc_to_decimal(bar.open),
        high=btc_to_decimal(bar.high),
        low=btc_to_decimal(bar.low),
        close=btc_to_decimal(bar.close),
        volume=Decimal(repr(round(bar.volume, 8))),
        tick_count=bar.tick_count,
    )


def _trade_row(trade: PublicTrade) -> PublicTradeRecord:
    return PublicTradeRecord(
        ticker=trade.ticker,
        ts=ms_to_utc(trade.ts),
        trade_id=trade.trade_id,
        yes_price=price_to_decimal(trade.yes_price),
        count=count_to_decimal(trade.count),
        taker_side=trade.taker_side,
    )


def _market_row(status: MarketStatus) -> Market:
    return Market(
        ticker=status.ticker,
        status=status.status,
        strike=None if status.strike is None else btc_to_decimal(status.strike),
        open_time=ms_to_utc(status.open_ts),
        close_time=None if status.close_ts is None else ms_to_utc(status.close_ts),
        result=status.result or "",
        fee_type=status.fee_type,
        fee_multiplier=str(status.fee_multiplier),
        status_time=ms_to_utc(status.ts),
    )
