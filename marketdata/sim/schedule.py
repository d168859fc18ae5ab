"""KXBTC15M markets: one per 15-minute window, real tickers, times, strike and settlement.

exchange-protocols.md §3. The ticker names the window's close in US Eastern local time
(``KXBTC15M-26JUL232045-45`` closes 20:45 EDT = 00:45Z); EST in winter is inferred there,
and ``zoneinfo`` gives it to us for free.

Lifecycle, a pure function of simulated time so REST and WS can never disagree:

- ``initialized`` from ``created`` (``listing_lead_s`` before open; real ≈ 24 h, shorter
  here so listings stay small) - lifecycle ``created``;
- ``active`` at open - ``activated``; the strike (60-second average before open) is set then;
- ``closed`` at close - ``close_date_updated`` with the actual close time. Kalshi documents
  that event for close-time changes; we emit it at every close so each REST status change has
  its WS event (the most recent source, the asyncapi digest, lists no other close event);
- ``determined`` ``determine_delay_s`` after close - ``determined`` with result and value;
- ``finalized`` ``settle_delay_s`` after close (real sample: settlement_ts ≈ close + 6 s) -
  ``settled``.

Settlement (interfaces.md §6): both 60-second averages rounded to cents half up, YES when
the closing average is at least the strike. Where a settled-markets file covers the window
(``settled``), the real ``floor_strike`` and ``result`` win, and ``SimMarket.source`` says
which rule each market used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from marketdata.model.events import MarketPhase, Side
from marketdata.settled import (
    SOURCE_AVERAGE,
    SOURCE_FILE,
    SOURCE_FILE_RESULT,
    SOURCE_FILE_STRIKE,
    SettledMarkets,
)
from marketdata.sim.prices import PricePath

SERIES = "KXBTC15M"
WINDOW_S = 900
EASTERN = ZoneInfo("America/New_York")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

# REST status per phase; the event vocabulary (MarketPhase) is the engine's own.
REST_STATUS: dict[MarketPhase, str] = {
    "listed": "initialized",
    "open": "active",
    "closed": "closed",
    "determined": "determined",
    "finalized": "finalized",
}


def average_cents(path: PricePath, end_second: int, window: int = 60) -> int:
    """Average of the ``window`` prints before ``end_second``, rounded half up to cents.

    Exact: the prints are whole cents, so sum them as integers (a float average can land a
    hair below an exact .5 cent and round the wrong way).
    """
    total = sum(
        round(path.price_at_second(s) * 100) for s in range(end_second - window, end_second)
    )
    return (2 * total + window) // (2 * window)


def event_ticker_for(close_ts: int) -> str:
    local = datetime.fromtimestamp(close_ts / 1000, tz=UTC).astimezone(EASTERN)
    return f"{SERIES}-{local:%y}{MONTHS[local.month - 1]}{local:%d%H%M}"


def ticker_for(close_ts: int) -> str:
    local = datetime.fromtimestamp(close_ts / 1000, tz=UTC).astimezone(EASTERN)
    return f"{event_ticker_for(close_ts)}-{local:%M}"


def close_times_for(ticker: str) -> list[int]:
    """Close times (ms) a ticker can name: none if it is not a KXBTC15M ticker, two in the
    hour US Eastern repeats in November (the ticker does not say which offset)."""
    prefix, _, rest = ticker.partition("-")
    stamp = rest.partition("-")[0]
    if prefix != SERIES or len(stamp) != 11 or stamp[2:5] not in MONTHS:
        return []
    try:
        local = datetime(
            2000 + int(stamp[:2]),
            MONTHS.index(stamp[2:5]) + 1,
            int(stamp[5:7]),
            int(stamp[7:9]),
            int(stamp[9:11]),
        )
    except ValueError:
        return []
    closes = {int(local.replace(tzinfo=EASTERN, fold=fold).timestamp() * 1000) for fold in (0, 1)}
    return sorted(c for c in closes if c % (WINDOW_S * 1000) == 0 and ticker_for(c) == ticker)


@dataclass(frozen=True, slots=True)
class SimMarket:
    """One window's contract: strike and result from the settled file where it has them,
    else from the path's 60-second averages (``source`` says which)."""

    ticker: str
    event_ticker: str
    created_ts: int
    open_ts: int
    close_ts: int
    determine_ts: int
    settle_ts: int
    strike_cents: int  # price to beat, cents (known to the core; hidden before open)
    close_cents: int | None  # settlement value, cents (hidden before determination)
    result: Side  # hidden before determination
    source: str = SOURCE_AVERAGE

    @property
    def strike(self) -> float:
        return self.strike_cents / 100

    def phase(self, now: int) -> MarketPhase | None:
        """Lifecycle phase at ``now`` (ms); None before the market is created."""
        if now < self.created_ts:
            return None
        if now < self.open_ts:
            return "listed"
        if now < self.close_ts:
            return "open"
        if now < self.determine_ts:
            return "closed"
        if now < self.settle_ts:
            return "determined"
        return "finalized"


class MarketSchedule:
    """All KXBTC15M windows whose lifetime overlaps the replay, created on demand."""

    def __init__(
        self,
        path: PricePath,
        *,
        listing_lead_s: int = 3600,
        determine_delay_s: int = 2,
        settle_delay_s: int = 6,
        settled: SettledMarkets | None = None,
    ) -> None:
        self.path = path
        self.settled = settled
        self.listing_lead_ms = listing_lead_s * 1000
        self.determine_delay_ms = determine_delay_s * 1000
        self.settle_delay_ms = settle_delay_s * 1000
        self._markets: dict[int, SimMarket] = {}

    def window_open(self, ts: int) -> int:
        return ts - ts % (WINDOW_S * 1000)

    def market(self, open_ts: int) -> SimMarket:
        market = self._markets.get(open_ts)
        if market is None:
            market = self._make(open_ts)
            self._markets[open_ts] = market
        return market

    def _make(self, open_ts: int) -> SimMarket:
        close_ts = open_ts + WINDOW_S * 1000
        strike = average_cents(self.path, open_ts // 1000)
        path_close = average_cents(self.path, close_ts // 1000)
        close: int | None = path_close
        real = self.settled.get(close_ts) if self.settled is not None else None
        source = SOURCE_AVERAGE
        if real is not None and real.strike_cents is not None:
            strike, source = real.strike_cents, SOURCE_FILE_STRIKE
        result: Side = "yes" if path_close >= strike else "no"
        if real is not None and real.result is not None:
            result = real.result
            # The real settlement value, or none: a path average beside a real result
            # could contradict it.
            close = real.expiration_cents
            source = SOURCE_FILE if source == SOURCE_FILE_STRIKE else SOURCE_FILE_RESULT
        return SimMarket(
            ticker=ticker_for(close_ts),
            event_ticker=event_ticker_for(close_ts),
            created_ts=open_ts - self.listing_lead_ms,
            open_ts=open_ts,
            close_ts=close_ts,
            determine_ts=close_ts + self.determine_delay_ms,
            settle_ts=close_ts + self.settle_delay_ms,
            strike_cents=strike,
            close_cents=close,
            result=result,
            source=source,
        )

    def basis(self, open_ts: int, *, count: int = 8, lookback: int = 96) -> float:
        """Dollars the replayed path runs above the real index, as known at ``open_ts``.

        The real strike is the index's 60 s average before open; beside the path's own
        average at the same moment it measures the gap between the history (Binance
        BTCUSDT) and the index (BRTI, USD), which the maker must remove before it compares
        spot with a real strike. The median of the last ``count`` real strikes, up to and
        including this window's (published at its open): never a later one. No settled
        file, or none in reach: 0.
        """
        if self.settled is None:
            return 0.0
        gaps: list[int] = []
        window = WINDOW_S * 1000
        for back in range(lookback):
            start = open_ts - back * window
            real = self.settled.get(start + window)
            if real is None or real.strike_cents is None:
                continue
            if not self.path.history.covers(start - 60_000, start):
                break
            gaps.append(average_cents(self.path, start // 1000) - real.strike_cents)
            if len(gaps) == count:
                break
        gaps.sort()
        if not gaps:
            return 0.0
        middle = len(gaps) // 2
        median = gaps[middle] if len(gaps) % 2 else (gaps[middle - 1] + gaps[middle]) / 2
        return median / 100

    def visible(self, now: int, *, history_s: int = 7200) -> list[SimMarket]:
        """Markets that exist at ``now``: listed, open, or closed within ``history_s``.

        Only windows whose prices the path covers are materialised (the closing average of a
        future window is computed lazily, but it is never shown before determination).
        """
        first = self.window_open(now - history_s * 1000 - WINDOW_S * 1000)
        last = self.window_open(now + self.listing_lead_ms)
        markets = []
        for open_ts in range(first, last + 1, WINDOW_S * 1000):
            if not self._covered(open_ts):
                continue
            market = self.market(open_ts)
            if market.phase(now) is not None:
                markets.append(market)
        return markets

    def by_ticker(self, ticker: str, now: int) -> SimMarket | None:
        """The market a ticker names, if it exists at ``now`` (settled long ago included)."""
        for close_ts in close_times_for(ticker):
            open_ts = close_ts - WINDOW_S * 1000
            if self._covered(open_ts) and self.market(open_ts).phase(now) is not None:
                return self.market(open_ts)
        return None

    def settled_by(
        self, now: int, *, min_settled_ts: int | None = None, max_settled_ts: int | None = None
    ) -> list[SimMarket]:
        """Every finalized market the path covers, newest first, settled within the bounds
        (ms, inclusive): what ``GET /markets?status=settled`` pages through."""
        window = WINDOW_S * 1000
        first_close = self.path.history.first_ts + 60_000 + window
        first_close += -first_close % window
        last_close = self.window_open(now - self.settle_delay_ms)
        if min_settled_ts is not None:
            earliest = min_settled_ts - self.settle_delay_ms
            first_close = max(first_close, earliest + -earliest % window)
        if max_settled_ts is not None:
            latest = max_settled_ts - self.settle_delay_ms
            last_close = min(last_close, latest - latest % window)
        markets = []
        for close_ts in range(last_close, first_close - 1, -window):
            if self._covered(close_ts - window):
                markets.append(self.market(close_ts - window))
        return [m for m in markets if m.phase(now) == "finalized"]

    def _covered(self, open_ts: int) -> bool:
        close_ts = open_ts + WINDOW_S * 1000
        return self.path.history.covers(open_ts - 60_000, close_ts)
