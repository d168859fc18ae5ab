"""Market state shared by every lane: books per ticker, contracts, spot, candles, signals.

One order book per ticker, so a position is marked, guarded and settled against its own
contract (the original marked against the active ticker's book after a rotation, §11.1).
Results are stored per ticker and never carried to another contract. The active contract
is chosen by the ``soonest_window`` policy of domain.md §13 point 1: the open contract of
the series whose window contains "now" and closes first.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from itertools import islice
from operator import itemgetter

from marketdata.model.book import OrderBook
from marketdata.model.candles import Candle, CandleAggregator
from marketdata.model.events import MarketPhase, MarketStatus, PublicTrade, Side
from trading.engine.params import Params
from trading.engine.regime import RegimeTracker
from trading.engine.shared_keys import ROC_SIGNAL_PARAMS, share_key
from trading.engine.signals import Direction
from trading.engine.signals.obi import ObiTracker, raw_obi
from trading.engine.signals.roc import CONFIRM_CANDLES, roc, roc_direction
from trading.engine.signals.spread import SpreadTracker

SPOT_SAMPLES = 181  # one per second: enough for the 180 s spot micro-momentum window
FORGET_AFTER_MS = 6 * 3600 * 1000  # finalized contracts are forgotten this long after close
_sample_ts = itemgetter(0)


@dataclass(slots=True)
class Contract:
    ticker: str
    status: MarketPhase
    strike: float | None
    open_ts: int
    close_ts: int | None
    result: Side | None
    fee_type: str
    fee_multiplier: Fraction


class TradeFlow:
    """Public-trade imbalance of one ticker over a trailing window (domain.md §2.8, §3.8)."""

    __slots__ = ("buy", "sell", "trades", "window_ms")

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.trades: deque[tuple[int, Side, int]] = deque()
        self.buy = 0
        self.sell = 0

    def add(self, ts: int, taker_side: Side, count: int) -> None:
        self.trades.append((ts, taker_side, count))
        if taker_side == "yes":
            self.buy += count
        else:
            self.sell += count

    def tfi(self, now: int) -> float | None:
        """buy / (buy + sell) over the window; None without trades."""
        while self.trades and self.trades[0][0] < now - self.window_ms:
            _, side, count = self.trades.popleft()
            if side == "yes":
                self.buy -= count
            else:
                self.sell -= count
        total = self.buy + self.sell
        return None if total <= 0 else self.buy / total


class MarketState:
    def __init__(self, params: Params) -> None:
        self.params = params
        self.books: dict[str, OrderBook] = {}
        self.contracts: dict[str, Contract] = {}
        self.flows: dict[str, TradeFlow] = {}
        self.active: str | None = None
        self.spot: float | None = None
        self.last_spot_ts: int | None = None
        self.last_kalshi_ts: int | None = None
        self.spot_samples: deque[tuple[int, float]] = deque(maxlen=SPOT_SAMPLES)
        self.candles = CandleAggregator(params.candle_interval_s)
        # Shorter spot candles read only by the candle exits (``exit_candle_s``): a
        # 15-minute contract never sees a 15-minute candle close while it is held.
        self.exit_candles = CandleAggregator(params.exit_candle_s)
        self.regime = RegimeTracker(params)
        self.obi = ObiTracker(params)
        self.spread = SpreadTracker(params)
        self.current_roc: float | None = None  # ROC(roc_lookback) of the completed candles
        # What the entry reads from the completed candles: ROC's and confirmation's bars,
        # and the ROC direction per OBI direction. Candles, ATR and regime only move at a
        # candle close, so this is computed then (at most three times per candle), not
        # every second: whatever changes them must call ``on_candle_closed``.
        self.recent_candles: list[Candle] = []
        # (OBI direction, the lane's ROC thresholds' key) → ROC direction, this candle
        self._roc_directions: dict[tuple[Direction | None, str], Direction | None] = {}
        self.book_volume = 0  # top-N volume of both sides of the active book, last second
        self.bid_volume = self.ask_volume = 0  # its two sides

    def apply_params(self, params: Params) -> None:
        """New parameters; windows keep their readings (trimmed to the new lengths)."""
        self.params = params
        self.regime = _carry_regime(self.regime, params)
        obi, spread = self.obi, self.spread
        self.obi = ObiTracker(params)
        self.obi.extend(obi)
        self.spread = SpreadTracker(params)
        self.spread.extend(spread)
        for flow in self.flows.values():
            flow.window_ms = params.tfi_window_s * 1000
        self.on_candle_closed()

    def on_candle_closed(self) -> None:
        """After each candle close (and the regime's update), or a parameter change."""
        lookback = self.params.roc_lookback
        self.recent_candles = self.last_candles(max(lookback + 1, CONFIRM_CANDLES))
        self.current_roc = roc([c.close for c in self.recent_candles], lookback)
        self._roc_directions.clear()

    def roc_direction(
        self, obi: Direction | None, params: Params, roc_key: str | None = None
    ) -> Direction | None:
        """The ROC signal of the completed candles for this second's OBI direction, with
        a lane's thresholds (``params``; ``roc_key``: its ``share_key`` of the ROC
        signal's parameters, when the caller has it). Lanes with equal ROC thresholds
        share one reading per candle."""
        directions = self._roc_directions
        key = (obi, share_key(params, ROC_SIGNAL_PARAMS) if roc_key is None else roc_key)
        if key not in directions:
            directions[key] = roc_direction(
                self.recent_candles,
                atr_pct=self.regime.atr_pct,
                regime=self.regime.regime,
                holding=False,
                obi=obi,
                params=params,
            )
        return directions[key]

    # --- events --------------------------------------------------------------------------

    def book(self, ticker: str) -> OrderBook:
        book = self.books.get(ticker)
        if book is None:
            book = self.books[ticker] = OrderBook(ticker)
        return book

    def on_spot(self, ts: int, price: float) -> list[Candle]:
        """Fold a spot price in; returns the ``candle_interval_s`` candle it closed, if any."""
        self.spot = price
        self.last_spot_ts = ts
        self.exit_candles.update(ts, price)
        return self.candles.update(ts, price)

    def advance_candles(self, now: int) -> list[Candle]:
        """Close the bars that end at or before ``now`` (every second of event time);
        returns the closed ``candle_interval_s`` candle, if any."""
        self.exit_candles.advance(now)
        return self.candles.advance(now)

    def on_public_trade(self, event: PublicTrade) -> None:
        flow = self.flows.get(event.ticker)
        if flow is None:
            flow = self.flows[event.ticker] = TradeFlow(self.params.tfi_window_s * 1000)
        flow.add(event.ts, event.taker_side, event.count)
        self.last_kalshi_ts = event.ts

    def on_status(self, event: MarketStatus, now: int) -> Contract:
        contract = Contract(
            event.ticker,
            event.status,
            event.strike,
            event.open_ts,
            event.close_ts,
            event.result,
            event.fee_type,
            event.fee_multiplier,
        )
        old = self.contracts.get(event.ticker)
        if old is not None:
            # A later status that omits a field never erases what is known (domain.md §2.4,
            # BUG-028): an erased close time would read as "too close to expiry", drop the
            # active contract and force a held position out with EXPIRY_GUARD; an erased
            # result would leave a position unsettled.
            if contract.result is None:
                contract.result = old.result
            if contract.close_ts is None:
                contract.close_ts = old.close_ts
            if contract.strike is None:
                contract.strike = old.strike
        self.contracts[event.ticker] = contract
        self.last_kalshi_ts = event.ts
        self._forget_finalized(now)
        return contract

    def _forget_finalized(self, now: int) -> None:
        stale = [
            t
            for t, c in self.contracts.items()
            if c.status == "finalized"
            and c.close_ts is not None
            and c.close_ts < now - FORGET_AFTER_MS
        ]
        for ticker in stale:
            del self.contracts[ticker]
            self.books.pop(ticker, None)
            self.flows.pop(ticker, None)

    # --- derived -------------------------------------------------------------------------

    def remaining_ms(self, ticker: str | None, now: int) -> int | None:
        """Milliseconds to the contract's close; None when unknown (treated as too close)."""
        contract = self.contracts.get(ticker) if ticker else None
        if contract is None or contract.close_ts is None:
            return None
        return max(0, contract.close_ts - now)

    def select_active(self, now: int, *, force: bool = True) -> bool:
        """Re-resolve the active contract; True when it changed (the OBI window restarts).

        Without ``force`` (the per-second call) an active contract whose window still
        contains "now" is kept: only status events can change the choice then.
        """
        current = self.contracts.get(self.active) if self.active else None
        if (
            not force
            and current is not None
            and current.status == "open"
            and current.close_ts is not None
            and now < current.close_ts
        ):
            return False
        best: Contract | None = None
        for contract in self.contracts.values():
            if (
                contract.status == "open"
                and contract.close_ts is not None
                and contract.open_ts <= now < contract.close_ts
                and contract.ticker.startswith(self.params.series_ticker)
                and (
                    best is None
                    or (contract.close_ts, contract.ticker) < (best.close_ts or 0, best.ticker)
                )
            ):
                best = contract
        ticker = best.ticker if best else None
        if ticker == self.active:
            return False
        self.active = ticker
        self.obi.reset(ticker)
        return True

    def sample_second(self, now: int) -> None:
        """Once per second of event time: OBI and spread readings, a spot sample."""
        if self.spot is not None:
            self.spot_samples.append((now, self.spot))
        book = self.books.get(self.active) if self.active else None
        if book is None:
            self.book_volume = self.bid_volume = self.ask_volume = 0
            return
        levels = self.params.obi_depth_levels
        bid_volume, ask_volume = book.bid_volume(levels), book.ask_volume(levels)
        self.bid_volume, self.ask_volume = bid_volume, ask_volume  # this second's, top N
        self.book_volume = bid_volume + ask_volume
        raw = raw_obi(bid_volume, ask_volume)
        if raw is not None:
            self.obi.add_reading(now, raw)
        self.spread.add_reading(now, book.spread)

    def closes(self) -> list[float]:
        return [candle.close for candle in self.candles.closed]

    def last_candles(self, n: int) -> list[Candle]:
        """The last ``n`` completed candles, oldest first (all of them when fewer)."""
        closed = self.candles.closed
        if n >= len(closed):
            return list(closed)
        if n <= 0:
            return list(closed)[-n:]  # as slicing reads it; parameters keep n ≥ 1
        last = list(islice(reversed(closed), n))
        last.reverse()
        return last

    def exit_candles_since(self, ts: int) -> list[Candle]:
        """Completed exit candles that opened at or after ``ts`` (a position's entry),
        oldest first: the candles of the hold."""
        held: list[Candle] = []
        for candle in reversed(self.exit_candles.closed):
            if candle.start_ts < ts:
                break
            held.append(candle)
        held.reverse()
        return held

    def exit_roc(self) -> float | None:
        """ROC(``roc_lookback``) of the completed exit candles (MOMENTUM_STALL)."""
        lookback = self.params.roc_lookback
        closed = self.exit_candles.closed
        if len(closed) <= lookback:
            return None
        # ROC reads only the two ends of its window: pass those, not a copy of the deque.
        return roc([closed[-1 - lookback].close, closed[-1].close], 1)

    def spot_roc(self, now: int, seconds: int) -> float | None:
        """(spot − spot N s ago) / spot N s ago × 100 from the per-second samples.

        "N s ago" is the newest sample at or before ``now − N s`` (the oldest sample when
        none is that old); samples are in time order, so it is found by bisection.
        """
        samples = self.spot_samples
        if self.spot is None or not samples:
            return None
        older = bisect_right(samples, now - seconds * 1000, key=_sample_ts)
        past = samples[older - 1][1] if older else samples[0][1]
        return None if past == 0 else (self.spot - past) / past * 100

    def tfi(self, ticker: str | None, now: int) -> float | None:
        flow = self.flows.get(ticker) if ticker else None
        return flow.tfi(now) if flow else None


def _carry_regime(old: RegimeTracker, params: Params) -> RegimeTracker:
    """A tracker for ``params`` that keeps the current regime and recent history."""
    new = RegimeTracker(params)
    new._prev_close = old._prev_close
    new._trs.extend(old._trs)
    new._atr_pcts.extend(old._atr_pcts)
    new._classes.extend(old._classes)
    new.regime, new.atr_pct, new.smoothed_atr_pct = old.regime, old.atr_pct, old.smoothed_atr_pct
    return new
