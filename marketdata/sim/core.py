"""The simulator's state machine: one simulated second at a time, emitting normalised events.

``SimCore.step()`` processes the next whole second and returns its events in time order:

- ``ts = s·1000``: a ``ClockTick``, then lifecycle ``MarketStatus`` changes that fall on this
  second (with the opening ``BookSnapshot`` of a market that opens, or the deltas that empty
  the book of one that closes);
- ``ts = s·1000 + j`` (``j`` seeded, < 900 ms): the BTC print of second ``s`` as a
  ``SpotTrade`` and a ``SpotTicker``;
- ``+1 ms``: the maker's requote deltas for the open contract (it has now seen the print);
- later in the second: public trades (seeded arrivals, taking the touch) with their deltas.

Both the pure stream (``stream.generate_events``) and the server consume exactly this, so
a client of the server and a reader of the stream see the same market. Orders (part 2) enter
through the same books (``matching.MatchingEngine`` sets ``orders``); the maker tracks its own
size per level so resting orders of others survive its requotes, and the hooks below let its
requotes and the public trade flow fill them. With no engine attached nothing changes.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import deque
from fractions import Fraction
from typing import Protocol

from marketdata.model.book import OrderBook
from marketdata.model.events import (
    BookDelta,
    BookSnapshot,
    ClockTick,
    Event,
    MarketPhase,
    MarketStatus,
    PublicTrade,
    Side,
    SpotTicker,
    SpotTrade,
)
from marketdata.model.units import PRICE_MAX
from marketdata.settled import SettledMarkets
from marketdata.sim.maker import (
    SIGMA_SCALE,
    SPREAD_PROFILES,
    FairInputs,
    MarketMaker,
    Quote,
    VolatilityEstimate,
    make_quote,
)
from marketdata.sim.prices import PriceHistory, PricePath
from marketdata.sim.schedule import WINDOW_S, MarketSchedule, SimMarket

FEE_TYPE = "quadratic"
FEE_MULTIPLIER = Fraction(1)
TRADE_RATE = 0.4  # public trades per second on a calm mid-window book
TRADE_SIZE_MEDIAN = 160  # contracts; with TRADE_RATE, the volume per window (see below)
# The volatility windows' length: after it the estimate no longer depends on the start.
VOL_WARMUP_S = VolatilityEstimate.SLOW_S


class RestingOrders(Protocol):
    """Accounts' resting orders on the core's books (``matching.MatchingEngine``): the
    hooks through which the maker's requotes and the public trade flow fill them. A
    protocol, so the core needs nothing from the order side (which builds on the core)."""

    def resting_size(self, ticker: str, side: Side, price: int) -> int: ...

    def fill_resting(
        self, ticker: str, side: Side, price: int, count: int, ts: int
    ) -> list[Event]: ...

    def after_requote(self, ticker: str, ts: int) -> list[Event]: ...

    def close_market(self, ticker: str, ts: int) -> list[Event]: ...


class SimCore:
    def __init__(
        self,
        *,
        seed: int,
        start_ts: int,
        history: PriceHistory,
        listing_lead_s: int = 3600,
        clock_ticks: bool = True,
        settled: SettledMarkets | None = None,
        spread: str = "real",
        sigma_scale: float = SIGMA_SCALE,
    ) -> None:
        if spread not in SPREAD_PROFILES:
            raise ValueError(f"spread profile must be one of {sorted(SPREAD_PROFILES)}")
        self.base_spread = SPREAD_PROFILES[spread]
        self.sigma_scale = sigma_scale
        self.seed = seed
        self.path = PricePath(history, seed)
        self.schedule = MarketSchedule(self.path, listing_lead_s=listing_lead_s, settled=settled)
        self.clock_ticks = clock_ticks
        self.fee_type = FEE_TYPE
        self.fee_multiplier = FEE_MULTIPLIER
        self.orders: RestingOrders | None = None  # resting orders of accounts (part 2)
        self.second = start_ts // 1000  # next second to process
        self.now = self.second * 1000  # latest simulated time reached (ms)
        self.books: dict[str, OrderBook] = {}
        self.makers: dict[str, MarketMaker] = {}
        self.basis: dict[str, float] = {}  # per open market: path minus real index, $
        self.active: SimMarket | None = None
        self.flow = random.Random(f"kbtc-flow:{seed}")
        self.spot = self.path.price_at_second(self.second - 1)
        self.recent: deque[float] = deque(maxlen=61)  # last prints, for momentum
        self.vol = VolatilityEstimate(self.path.price_at_second(self.second - VOL_WARMUP_S - 1))
        for second in range(self.second - VOL_WARMUP_S, self.second):
            price = self.path.price_at_second(second)
            self.vol.update(price)
            self.recent.append(price)

    # --- state at start ------------------------------------------------------------------

    def initial_events(self) -> list[Event]:
        """Every market that exists at start, and the open one's book (ts = start)."""
        events: list[Event] = []
        for market in self.schedule.visible(self.now):
            phase = market.phase(self.now)
            assert phase is not None
            events.append(self._status(market, phase, self.now))
            if phase == "open":
                events.append(self._open_book(market, self.now))
        return events

    def end_ts(self) -> int:
        """First ms the path cannot simulate (the last bar's end)."""
        return self.path.history.last_ts + 60_000

    # --- one second ----------------------------------------------------------------------

    def step(self) -> list[Event]:
        second = self.second
        ts = second * 1000
        events: list[Event] = [ClockTick(ts)] if self.clock_ticks else []
        # Seeded per second, not once per run: a run started later (a restart at its saved
        # time) draws the same jitter and trade flow for the same second.
        self.flow.seed(f"kbtc-flow:{self.seed}:{second}")
        events += self._lifecycle(ts)
        price = self.path.price_at_second(second)
        jitter = self.flow.randrange(0, 900)
        events += self._spot(ts + jitter, price)
        self.vol.update(price)
        self.recent.append(price)
        market = self.active
        if market is not None and ts < market.close_ts:
            events += self._quote(market, ts + jitter + 1, second)
            events += self._trades(market, second, ts + jitter + 2)
        self.second += 1
        self.now = ts + 999
        return events

    def run_until(self, ts: int) -> list[Event]:
        """Process every whole second up to and including the one containing ``ts``."""
        events: list[Event] = []
        while self.second * 1000 <= ts:
            events += self.step()
        return events

    # --- parts ---------------------------------------------------------------------------

    def _status(self, market: SimMarket, phase: MarketPhase, ts: int) -> MarketStatus:
        known = phase != "listed"
        return MarketStatus(
            ts=ts,
            ticker=market.ticker,
            status=phase,
            strike=market.strike if known else None,
            open_ts=market.open_ts,
            close_ts=market.close_ts,
            result=market.result if phase in ("determined", "finalized") else None,
            fee_type=FEE_TYPE,
            fee_multiplier=FEE_MULTIPLIER,
        )

    def _lifecycle(self, ts: int) -> list[Event]:
        window = WINDOW_S * 1000
        offset = ts % window
        lead = (ts + self.schedule.listing_lead_ms) % window
        delays = (0, self.schedule.determine_delay_ms, self.schedule.settle_delay_ms)
        if offset not in delays and lead != 0:
            return []  # no market changes phase on this second
        current = ts - ts % window
        candidates = {current - window, current, current + self.schedule.listing_lead_ms}
        events: list[Event] = []
        for open_ts in sorted(candidates):
            if not self.schedule._covered(open_ts):
                continue
            market = self.schedule.market(open_ts)
            moments: tuple[tuple[int, MarketPhase], ...] = (
                (market.created_ts, "listed"),
                (market.open_ts, "open"),
                (market.close_ts, "closed"),
                (market.determine_ts, "determined"),
                (market.settle_ts, "finalized"),
            )
            for moment, phase in moments:
                if moment != ts:
                    continue
                if phase == "closed":
                    events += self._close_book(market, ts)
                events.append(self._status(market, phase, ts))
                if phase == "open":
                    events.append(self._open_book(market, ts))
        return events

    def fair_inputs(self, market: SimMarket, second: int) -> FairInputs:
        """What the fair value of ``market`` at ``second`` is computed from: prints up to
        ``second`` only, the path shifted onto the real index by the market's basis."""
        close_s = market.close_ts // 1000
        window_start = close_s - 60
        window_sum, count = 0.0, 0
        if second >= window_start:
            count = second - window_start + 1
            window_sum = sum(self.path.prints(window_start, second + 1))
        basis = self.basis.get(market.ticker, 0.0)
        return FairInputs(
            spot=self.spot - basis,
            strike=market.strike,
            seconds_left=close_s - second - 1,
            sigma=max(self.vol.sigma_dollars, 0.01),
            window_sum=window_sum - basis * count,
            window_count=count,
        )

    def _fair(self, market: SimMarket, second: int) -> tuple[float, float]:
        """(fair YES probability, momentum in sigmas) from prints up to ``second`` only."""
        return self.fair_inputs(market, second).fair(self.sigma_scale), self._momentum()

    def _momentum(self) -> float:
        """The recent prints' move in sigmas (the maker's lean, the takers' side)."""
        sigma = max(self.vol.sigma_dollars, 0.01)  # fair_inputs' sigma
        return (self.recent[-1] - self.recent[0]) / (sigma * math.sqrt(len(self.recent)))

    def _quote_for(self, market: SimMarket, second: int) -> Quote:
        fair, momentum = self._fair(market, second)
        seconds_left = market.close_ts / 1000 - second
        return make_quote(fair, self.vol.ratio, seconds_left, momentum, self.base_spread)

    def _open_book(self, market: SimMarket, ts: int) -> BookSnapshot:
        self.active = market
        self.basis[market.ticker] = self.schedule.basis(market.open_ts)
        maker = MarketMaker(self.seed, market.ticker)
        self.makers[market.ticker] = maker
        levels = maker.initial_levels(self._quote_for(market, ts // 1000 - 1))
        book = self.books.setdefault(market.ticker, OrderBook(market.ticker))
        yes = tuple(sorted(levels["yes"].items()))
        no = tuple(sorted(levels["no"].items()))
        book.apply_snapshot(yes, no, ts)
        return BookSnapshot(ts=ts, ticker=market.ticker, yes=yes, no=no)

    def _close_book(self, market: SimMarket, ts: int) -> list[Event]:
        maker = self.makers.pop(market.ticker, None)
        self.basis.pop(market.ticker, None)
        if self.active is market:
            self.active = None
        if maker is None:
            return []
        deltas: list[Event] = list(maker.withdraw(ts))
        book = self.books[market.ticker]
        for delta in deltas:
            assert isinstance(delta, BookDelta)
            book.apply_delta(delta.side, delta.price, delta.delta, ts)
        if self.orders is not None:
            deltas += self.orders.close_market(market.ticker, ts)
        return deltas

    def _spot(self, ts: int, price: float) -> list[Event]:
        previous, self.spot = self.spot, price
        bar = self.path.history.bar(ts - ts % 60_000)
        size = round(bar.volume / 60 * self.flow.expovariate(1.0) + 0.00001, 8)
        # A rise is a buyer lifting the offer, a fall a seller hitting the bid.
        bid, ask = (
            (round(price - 0.01, 2), price)
            if price >= previous
            else (price, round(price + 0.01, 2))
        )
        return [
            # One print per second: its second is its id, the same whenever a run started.
            # (Events of every second are built positionally: a keyword call costs twice.)
            SpotTrade(ts, price, size, str(ts // 1000)),
            SpotTicker(ts, price, bid, ask),
        ]

    def _quote(self, market: SimMarket, ts: int, second: int) -> list[Event]:
        maker = self.makers.get(market.ticker)
        if maker is None:
            return []
        maker.churn()
        events: list[Event] = list(
            maker.requote(self.books[market.ticker], self._quote_for(market, second), ts)
        )
        if self.orders is not None:
            events += self.orders.after_requote(market.ticker, ts)
        return events

    def _trades(self, market: SimMarket, second: int, earliest: int) -> list[Event]:
        book, maker = self.books[market.ticker], self.makers.get(market.ticker)
        if maker is None:
            return []
        seconds_left = market.close_ts / 1000 - second
        rate = (
            TRADE_RATE
            * (1.0 + 2.0 * max(0.0, (120 - seconds_left) / 120))
            * min(3.0, self.vol.ratio)
        )
        arrivals = _poisson(self.flow, rate)
        if not arrivals:
            return []
        momentum = self._momentum()
        stamps = sorted(
            self.flow.randrange(earliest, second * 1000 + 1000) for _ in range(arrivals)
        )
        events: list[Event] = []
        for ts in stamps:
            taker: Side = (
                "yes" if self.flow.random() < 0.5 + max(-0.3, min(0.3, 0.1 * momentum)) else "no"
            )
            # A YES taker lifts the YES ask, i.e. takes the best NO bid, and vice versa.
            maker_side: Side = "no" if taker == "yes" else "yes"
            touch = book.best_no_bid if taker == "yes" else book.best_yes_bid
            if touch is None:
                continue
            available = maker.shown[maker_side].get(touch, 0)
            resting = (
                self.orders.resting_size(market.ticker, maker_side, touch)
                if self.orders is not None
                else 0
            )
            wanted = max(1, int(self.flow.lognormvariate(math.log(TRADE_SIZE_MEDIAN), 1.2))) * 100
            count = min(wanted, available + resting)
            if count <= 0:
                continue
            yes_price = PRICE_MAX - touch if taker == "yes" else touch
            trade_id = str(uuid.UUID(int=self.flow.getrandbits(128), version=4))
            trade = PublicTrade(ts, market.ticker, yes_price, count, taker, trade_id)
            events.append(trade)
            from_maker = min(count, available)  # the maker's size was at the level first
            if from_maker:
                maker.consume(maker_side, touch, from_maker)
                book.apply_delta(maker_side, touch, -from_maker, ts)
                events.append(BookDelta(ts, market.ticker, maker_side, touch, -from_maker))
            if count > from_maker and self.orders is not None:
                events += self.orders.fill_resting(
                    market.ticker, maker_side, touch, count - from_maker, ts
                )
        return events


def _poisson(rng: random.Random, rate: float) -> int:
    limit, product, count = math.exp(-rate), rng.random(), 0
    while product > limit:
        count += 1
        product *= rng.random()
    return count
