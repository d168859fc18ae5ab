"""What became of the contracts the trader holds, asked of the exchange (issue #15, item 1).

A contract's result reached the engine only through live lifecycle messages: killed with a
position open and restarted after the contract was finalized, the trader held it forever,
stopped trading, and ``/healthz`` read "ok". ``HeldContractWatch`` closes that hole. It
learns the held tickers from the engine's records (``PositionOpened`` adds, ``PositionClosed``
removes; ``hold`` for positions restored at start), and asks Kalshi REST for each held market
(``GET /markets/{ticker}``):

- on start and after every reconnect (``check_soon``), for every held ticker;
- periodically while holding, for the held tickers whose close time has passed (in event
  time) or is not known yet: before the close there is no result to find.

A determined or finalized market with a result becomes a ``MarketStatus`` event handed to
``inject`` (the daemon journals it and feeds it to the engine, so a replay sees it), once per
ticker and phase. A closed market without a result, an unknown market or a failed lookup is
retried at the next pass, never defaulted. A hold still unresolved ``stuck_after_s`` after its
close is a trouble (``health()``: the panel shows it red and ``/healthz`` degrades).

Wiring (the daemon's): ``consume(produced, now)`` after every event, ``hold`` for each
position restored at start, ``check_soon()`` when the Kalshi socket reconnects, ``run(stop)``
beside the feeds, ``inject`` journals the event and feeds it to the session like a feed's,
and ``health()`` goes into the health report as ``held_contracts`` (``trading.health_panel``
and ``/healthz`` already read that key).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

import structlog

from marketdata.kalshi.errors import KalshiError, KalshiNotFound
from marketdata.kalshi.wire import MarketInfo
from marketdata.model.events import MarketStatus
from marketdata.model.units import WireFormatError
from trading.engine.records import PositionClosed, PositionOpened

log = structlog.get_logger(__name__)

DECIDED = ("determined", "finalized")


class MarketLookup(Protocol):
    async def get_market(self, ticker: str) -> MarketInfo: ...


@dataclass(slots=True)
class Hold:
    """One held ticker: which positions hold it, and what the exchange last said of it."""

    ticker: str
    positions: set[str]
    since_ts: int | None  # event time it was first held (None: before any event)
    close_ts: int | None = None
    lookups: int = 0
    last_answer: str = "not asked yet"


class HeldContractWatch:
    def __init__(
        self,
        rest: MarketLookup,
        inject: Callable[[MarketStatus], None],
        *,
        poll_s: float = 5.0,
        stuck_after_s: int = 600,
        contract_life_s: int = 900,
        fee_type: str = "quadratic",
        fee_multiplier: Fraction = Fraction(1),
    ) -> None:
        """``poll_s``: wall seconds between passes while holding; ``stuck_after_s``: event
        seconds after the close before an unresolved hold is a trouble; ``contract_life_s``:
        the longest a contract can stay open after an entry (a 15-minute window), which
        stands in for the close while the exchange has not told it. The fees are the series'
        (the injected event carries them, as every ``MarketStatus`` does)."""
        self.rest = rest
        self.inject = inject
        self.poll_s = poll_s
        self.stuck_after_ms = stuck_after_s * 1000
        self.contract_life_ms = contract_life_s * 1000
        self.fee_type = fee_type
        self.fee_multiplier = fee_multiplier
        self.holds: dict[str, Hold] = {}
        self.now_ms: int | None = None
        self.lookups = 0
        self.lookup_errors = 0
        self.injected = 0
        self._delivered: set[tuple[str, str]] = set()  # (ticker, phase) already injected
        self._everything = True  # the next pass asks for every held ticker (start)
        self._wakeup = asyncio.Event()

    # --- what is held (called on the event loop, per event: cheap) ---------------------------

    def consume(self, produced: Sequence[object], now_ms: int) -> None:
        """The engine's records for one event (empty too: the watch keeps event time)."""
        self.now_ms = now_ms
        for record in produced:
            if isinstance(record, PositionOpened):
                self.hold(record.ticker, record.position_uid, since_ts=record.ts)
            elif isinstance(record, PositionClosed):
                self.release(record.ticker, record.position_uid)

    def hold(
        self,
        ticker: str,
        position_uid: str,
        *,
        since_ts: int | None = None,
        close_ts: int | None = None,
    ) -> None:
        """A held position (from a ``PositionOpened``, or restored with the engine's state:
        pass its entry time and, where known, the contract's close)."""
        held = self.holds.get(ticker)
        if held is None:
            since = since_ts if since_ts is not None else self.now_ms
            self.holds[ticker] = held = Hold(ticker, set(), since, close_ts)
            self._wakeup.set()
        held.positions.add(position_uid)

    def release(self, ticker: str, position_uid: str) -> None:
        held = self.holds.get(ticker)
        if held is None:
            return
        held.positions.discard(position_uid)
        if not held.positions:
            del self.holds[ticker]

    def check_soon(self) -> None:
        """After a reconnect: lifecycle messages may have been missed; ask for every hold."""
        self._everything = True
        self._wakeup.set()

    # --- asking the exchange -----------------------------------------------------------------

    def due(self) -> list[str]:
        """The tickers the next pass asks for."""
        if self._everything:
            return sorted(self.holds)
        now = self.now_ms
        return sorted(
            ticker
            for ticker, held in self.holds.items()
            if held.close_ts is None or (now is not None and now >= held.close_ts)
        )

    async def check(self) -> list[MarketStatus]:
        """One pass: ask for each due ticker; inject and return the results found."""
        tickers, self._everything = self.due(), False
        found = []
        for ticker in tickers:
            event = await self._ask(ticker)
            if event is not None:
                found.append(event)
        return found

    async def _ask(self, ticker: str) -> MarketStatus | None:
        self.lookups += 1
        try:
            market = await self.rest.get_market(ticker)
        except (KalshiError, WireFormatError) as error:
            self.lookup_errors += 1
            answer = "not found" if isinstance(error, KalshiNotFound) else f"error: {error}"
            self._answered(ticker, answer)
            log.warning("held_contract_lookup_failed", ticker=ticker, error=str(error))
            return None
        held = self.holds.get(ticker)
        if held is not None:
            held.close_ts = market.close_ts
        self._answered(ticker, market.phase + (f" ({market.result})" if market.result else ""))
        if market.phase not in DECIDED or market.result is None:
            return None  # no result yet: asked again at the next pass, never assumed
        if (ticker, market.phase) in self._delivered or self.now_ms is None:
            return None
        event = market.status_event(
            self.now_ms, fee_type=self.fee_type, fee_multiplier=self.fee_multiplier
        )
        self._delivered.add((ticker, market.phase))
        self.injected += 1
        log.info(
            "held_contract_result_found", ticker=ticker, phase=market.phase, result=event.result
        )
        self.inject(event)
        return event

    def _answered(self, ticker: str, answer: str) -> None:
        held = self.holds.get(ticker)
        if held is not None:
            held.lookups += 1
            held.last_answer = answer

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: a pass at start, then one every ``poll_s`` while holding, and at
        once when a new hold or a reconnect wakes it."""
        while not stop.is_set():
            self._wakeup.clear()
            if self.holds:
                await self.check()
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wakeup.wait())]
            timeout = self.poll_s if self.holds else None
            try:
                await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waits:
                    waiter.cancel()

    # --- health ------------------------------------------------------------------------------

    def stuck(self) -> list[Hold]:
        """Holds unresolved ``stuck_after_s`` past their close (event time)."""
        now = self.now_ms
        if now is None:
            return []
        return [
            held
            for held in self.holds.values()
            if (close := self._close_or_latest(held)) is not None
            and now > close + self.stuck_after_ms
        ]

    def _close_or_latest(self, held: Hold) -> int | None:
        if held.close_ts is not None:
            return held.close_ts
        return None if held.since_ts is None else held.since_ts + self.contract_life_ms

    def health(self) -> dict[str, Any]:
        """Plain JSON for the health topic (``trading.health_panel`` renders it)."""
        now = self.now_ms or 0
        return {
            "held": sorted(self.holds),
            "stuck": [
                {
                    "ticker": held.ticker,
                    "minutes_past_close": (now - (self._close_or_latest(held) or now)) // 60_000,
                    "lookups": held.lookups,
                    "last_answer": held.last_answer,
                }
                for held in self.stuck()
            ],
            "lookups": self.lookups,
            "lookup_errors": self.lookup_errors,
            "injected": self.injected,
        }
