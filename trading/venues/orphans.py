"""Orphans of the live lane (domain.md §3.17.7): exchange positions the lane does not hold
as its position. Each one blocks new entries until it is closed.

- **Adoption** (``adopted``) is idempotent per ticker: re-adopting *replaces* the count,
  never adds to it (BUG-015); ``cause`` only upgrades (an ``EXPIRY_409`` stays one, its
  close is labelled ``EXPIRY_409_SETTLED``); ``counted`` is sticky (a round trip is counted
  once on every path); the first detection time stays.
- **The orphan check** (``check_orphans``, under the venue's lock) reads each orphan's
  market: closed with a result yes/no → closed at $1/$0 (``ORPHAN_SETTLED``, or
  ``EXPIRY_409_SETTLED``), the ticker settled; closed with an empty result → *not yet*, it
  waits (BUG-022: an early "closed" read is never a "no"); open, and the held side's bid at
  or above what it cost → sold there with a reduce-only immediate-or-cancel order
  (``ORPHAN_RECOVERY``), verified against the signed exchange position, any unsold
  remainder kept as an orphan (``counted``); open and the exchange no longer holds it →
  dropped (closed outside KBTC, nothing to book) unless a second market read finds it
  closed (settled between the reads: closed at its result as above); else kept.

Each close comes back as an ``OrphanClose`` (both legs' cash, exact micro-dollars); the
live wiring records it as a trade unless a live trade on the same ticker closed in the last
5 minutes (``trading.runtime.live_safety``). After a check that closed or dropped one, the
engine hears the account's cash (``KalshiVenue.sync_balance``, a settled orphan's payout
counted while the exchange has not paid it): its PnL reaches the live bankroll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import structlog

from marketdata.kalshi.errors import KalshiError
from marketdata.model.events import Side
from marketdata.model.units import PRICE_MAX
from trading.venues.kalshi import KalshiVenue, _premium
from trading.venues.live_position import EXIT_COOLDOWN_MS, Orphan

log = structlog.get_logger(__name__)

CLOSED_PHASES = frozenset({"closed", "determined", "finalized"})
# Causes in rising order; an unknown cause ranks lowest. Only an upgrade replaces a cause.
CAUSE_RANK = {
    "RECONCILE": 0,
    "PARTIAL_EXIT": 1,
    "EMERGENCY_STOP": 1,
    "EXIT_FAILED": 1,
    "SETTLEMENT_UNCONFIRMED": 2,
    "EXPIRY_409": 3,
}


def adopted(
    old: Orphan | None,
    ticker: str,
    signed: int,
    cause: str,
    now: int,
    cost: int | None,
    fees: int | None,
    counted: bool,
) -> Orphan:
    """The orphan after adopting ``signed`` on ``ticker`` over ``old`` (None: new)."""
    if old is None:
        return Orphan(ticker, signed, cause, now, cost or 0, fees or 0, counted)
    keep_cause = CAUSE_RANK.get(old.cause, -1) >= CAUSE_RANK.get(cause, -1)
    return Orphan(
        ticker=ticker,
        signed=signed,  # the exchange's count replaces ours: never old.signed + signed
        cause=old.cause if keep_cause else cause,
        detected_ts=old.detected_ts,
        cost=old.cost if cost is None else cost,
        fees=old.fees if fees is None else fees,
        counted=old.counted or counted,
    )


def exposure(orphan: Orphan) -> int:
    """What the orphan stands to lose (micro-dollars): its cost, or when unknown its
    count at $1 a contract, the most a contract can be worth."""
    return orphan.cost or abs(orphan.signed) * PRICE_MAX


@dataclass(frozen=True, slots=True)
class OrphanClose:
    """An orphan (or part of one) closed: what the lane records as a trade."""

    ticker: str
    side: Side
    count: int  # hundredths closed
    entry_cost: int  # micro-dollars, the held side's premium
    entry_fees: int
    exit_yes_price: int  # YES space: 10000/0 for a settlement, the sale's VWAP otherwise
    proceeds: int
    exit_fees: int
    reason: Literal["ORPHAN_SETTLED", "EXPIRY_409_SETTLED", "ORPHAN_RECOVERY"]
    cause: str
    detected_ts: int
    closed_ts: int
    exit_order_ids: tuple[str, ...] = ()
    remaining: int = 0  # hundredths still an orphan after this close

    @property
    def pnl(self) -> int:
        return self.proceeds - self.entry_cost - self.entry_fees - self.exit_fees

    @property
    def entry_yes_price(self) -> int:
        """The average entry as a YES price (0 when the cost is unknown)."""
        if not self.count or not self.entry_cost:
            return 0
        premium = self.entry_cost // self.count
        return premium if self.side == "yes" else PRICE_MAX - premium


async def check_orphans(venue: KalshiVenue) -> list[OrphanClose]:
    """One orphan check over every orphan, under the venue's lock (one order operation at
    a time, §3.17.1). Returns what closed; the state is persisted when it changed."""
    closes: list[OrphanClose] = []
    async with venue.lock:
        before = venue.state.version
        held = {t: (o.signed, o.cost, o.fees) for t, o in venue.state.orphans.items()}
        for orphan in list(venue.state.orphans.values()):
            try:
                closes.extend(await _check_one(venue, orphan))
            except KalshiError as exc:
                log.warning("live_orphan_check_failed", ticker=orphan.ticker, error=str(exc))
        if venue.state.version != before:
            await venue._save()
        after = {t: (o.signed, o.cost, o.fees) for t, o in venue.state.orphans.items()}
        if closes or after != held:
            due = {c.ticker: c.proceeds for c in closes if c.reason != "ORPHAN_RECOVERY"}
            await venue.sync_balance(due)
    return closes


async def _check_one(venue: KalshiVenue, orphan: Orphan) -> list[OrphanClose]:
    state, ticker = venue.state, orphan.ticker
    side: Side = "yes" if orphan.signed > 0 else "no"
    count = abs(orphan.signed)
    now = venue.clock.now_ms()
    market = await venue.rest.get_market(ticker)
    held = None
    if market.phase not in CLOSED_PHASES:
        held = await venue._signed_position(ticker)
        if held is not None and held * orphan.signed <= 0:
            # None held: sold outside KBTC, or settled since the market read (a settlement
            # clears the position): the market again decides which.
            market = await venue.rest.get_market(ticker)
    if market.phase in CLOSED_PHASES:
        if market.result not in ("yes", "no"):
            log.info("live_orphan_waits_for_result", ticker=ticker, status=market.status)
            return []  # BUG-022: closed without a result is "not yet", never "no"
        won = market.result == side
        close = OrphanClose(
            ticker=ticker,
            side=side,
            count=count,
            entry_cost=orphan.cost,
            entry_fees=orphan.fees,
            exit_yes_price=PRICE_MAX if market.result == "yes" else 0,
            proceeds=PRICE_MAX * count if won else 0,
            exit_fees=0,
            reason="EXPIRY_409_SETTLED" if orphan.cause == "EXPIRY_409" else "ORPHAN_SETTLED",
            cause=orphan.cause,
            detected_ts=orphan.detected_ts,
            closed_ts=now,
        )
        _closed(venue, orphan, settled=True)
        log.warning("live_orphan_settled", ticker=ticker, result=market.result, pnl=close.pnl)
        return [close]
    if held is not None and held * orphan.signed <= 0:
        # Open, and the exchange holds none of it (sold outside KBTC): nothing to book.
        log.warning("live_orphan_gone", ticker=ticker, exchange=held)
        state.orphans.pop(ticker, None)
        state.touch()
        return []
    if held is not None and held != orphan.signed:
        state.adopt_orphan(ticker, held, orphan.cause, now)
        orphan = state.orphans[ticker]
        count = abs(held)
    if not orphan.cost:
        return []  # what it cost is unknown: no recovery rule to judge by; it waits
    bid = await _best_bid(venue, ticker, side)
    avg = orphan.cost // abs(orphan.signed)
    if bid is None or bid < avg:
        return []
    return await _recover(venue, orphan, side, count, bid)


async def _best_bid(venue: KalshiVenue, ticker: str, side: Side) -> int | None:
    """The held side's best bid, as that side's premium (price units)."""
    book = await venue.rest.get_orderbook(ticker)
    levels = book.yes if side == "yes" else book.no
    prices = [price for price, size in levels if size > 0]
    return max(prices) if prices else None


async def _recover(
    venue: KalshiVenue, orphan: Orphan, side: Side, count: int, bid: int
) -> list[OrphanClose]:
    """Sell the orphan at ``bid`` (reduce-only IOC); book what sold, keep the rest."""
    state, ticker = venue.state, orphan.ticker
    coid = venue.own_client_order_id("orphan", ticker)
    limit = bid if side == "yes" else PRICE_MAX - bid
    created = await venue._create(
        ticker=ticker,
        side=side,
        action="sell",
        yes_price=limit,
        count=count,
        client_order_id=coid,
        intent_coid=coid,
        purpose="exit",
    )
    if created is None or created.fill_count <= 0:
        return []
    fills = await venue._collect(created, ticker, side)
    held = await venue._signed_position(ticker)
    filled = fills.count
    if held is not None:
        remaining = max(0, held if side == "yes" else -held)
        filled = min(filled, max(0, count - remaining))  # the exchange count is the truth
    else:
        remaining = count - filled
    if filled <= 0:
        return []
    proceeds = sum(_premium(side, f.yes_price) * f.count for f in fills.fills)
    exit_fees = sum(f.fee for f in fills.fills)
    sold_all = sum(f.count for f in fills.fills)
    if sold_all != filled:  # keep the cash of what the exchange says sold, pro rata
        proceeds = proceeds * filled // sold_all
        exit_fees = exit_fees * filled // sold_all
    entry_cost = orphan.cost * filled // count
    entry_fees = orphan.fees * filled // count
    exit_vwap = sum(f.yes_price * f.count for f in fills.fills) // max(1, sold_all)
    close = OrphanClose(
        ticker=ticker,
        side=side,
        count=filled,
        entry_cost=entry_cost,
        entry_fees=entry_fees,
        exit_yes_price=exit_vwap,
        proceeds=proceeds,
        exit_fees=exit_fees,
        reason="ORPHAN_RECOVERY",
        cause=orphan.cause,
        detected_ts=orphan.detected_ts,
        closed_ts=venue.clock.now_ms(),
        exit_order_ids=(created.order_id,),
        remaining=remaining,
    )
    if remaining > 0:
        # The unsold rest stays an orphan; its round trip is this one (counted).
        signed = remaining if side == "yes" else -remaining
        state.orphans[ticker] = Orphan(
            ticker,
            signed,
            orphan.cause,
            orphan.detected_ts,
            orphan.cost - entry_cost,
            orphan.fees - entry_fees,
            counted=True,
        )
        if not orphan.counted:
            state.round_trips += 1
        state.touch()
    else:
        _closed(venue, orphan, settled=False)
    log.warning("live_orphan_recovered", ticker=ticker, count=filled, pnl=close.pnl)
    return [close]


def _closed(venue: KalshiVenue, orphan: Orphan, *, settled: bool) -> None:
    state = venue.state
    state.orphans.pop(orphan.ticker, None)
    if not orphan.counted:
        state.round_trips += 1
    now = venue.clock.now_ms()
    if settled and orphan.ticker not in state.settled_tickers:
        state.settled_tickers.append(orphan.ticker)
    state.start_cooldown(orphan.ticker, now + EXIT_COOLDOWN_MS)
    state.touch()
