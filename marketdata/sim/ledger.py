"""The simulator's accounts: cash, positions, fills and settlements, exact in micro-dollars.

One ``Account`` per API key (the key id is the ``user_id``), opened on first use with the
simulator's ``--account-balance``. State lives as long as the process.

Positions are signed hundredths of a contract: + YES held, - NO held (the bot's reading of
``position_fp``, exchange-protocols.md §7 point 6). A fill that adds to the position (or opens
it) pays its outcome price (YES price for YES, 1 - YES price for NO); a fill against the held
side closes, receiving the held side's price for the closed part, and the rest opens the other
side (a YES and a NO in one market net to $1, so selling YES and buying NO are one thing).
``cost`` is what the open position paid; a close releases it pro rata (integer micros, the
remainder stays with what is still held, so the books always add up exactly).

Resting orders reserve their worst-case cash (outcome price x remaining + the largest fee such
a count could pay), so "available" never goes negative; ``balance`` on the wire is available
cash in whole cents, rounded down, like the exchange's balance precision for non-direct
members (§4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from marketdata.model.events import Side
from marketdata.model.units import MICROS_PER_CENT, PRICE_MAX


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """A private notification (WS ``fill``, ``user_orders``, ``market_positions``), released
    to the owner's connections when simulated time reaches ``ts``."""

    ts: int
    user_id: str
    channel: str
    ticker: str
    msg: dict[str, Any]


@dataclass
class Position:
    ticker: str
    position: int = 0  # signed hundredths
    cost: int = 0  # micros paid for the open position
    realized_pnl: int = 0  # micros, fees excluded (they are in ``fees_paid``)
    fees_paid: int = 0
    total_traded: int = 0  # micros of notional traded (outcome price x count)
    volume: int = 0  # hundredths traded
    last_updated_ts: int = 0


@dataclass(frozen=True, slots=True)
class FillRecord:
    fill_id: str
    order_id: str
    client_order_id: str
    user_id: str
    ticker: str
    book_side: str  # bid = bought YES, ask = sold YES
    side: Side  # deprecated pair, as the order was given
    action: str
    yes_price: int
    count: int
    fee: int  # micros
    is_taker: bool
    ts: int
    post_position: int


@dataclass(frozen=True, slots=True)
class SettlementRecord:
    ticker: str
    event_ticker: str
    result: Side
    yes_count: int
    yes_cost: int
    no_count: int
    no_cost: int
    revenue_cents: int
    fee_cost: int
    settled_ts: int


@dataclass
class Account:
    user_id: str
    cash: int  # micros, including what resting orders reserve
    reserved: int = 0
    positions: dict[str, Position] = field(default_factory=dict)
    fills: list[FillRecord] = field(default_factory=list)
    settlements: list[SettlementRecord] = field(default_factory=list)
    updated_ts: int = 0

    @property
    def available(self) -> int:
        return self.cash - self.reserved

    def position(self, ticker: str) -> Position:
        found = self.positions.get(ticker)
        if found is None:
            found = self.positions[ticker] = Position(ticker)
        return found

    def opening_count(self, ticker: str, signed_count: int) -> int:
        """How much of a signed order count would open (not close) a position."""
        held = self.position(ticker).position
        if held == 0 or (held > 0) == (signed_count > 0):
            return abs(signed_count)
        return max(0, abs(signed_count) - abs(held))

    def apply_fill(self, ticker: str, signed_count: int, yes_price: int, fee: int, ts: int) -> None:
        """Book one fill: ``signed_count`` > 0 buys YES (or sells NO), < 0 the other way."""
        pos = self.position(ticker)
        count = abs(signed_count)
        outcome_price = yes_price if signed_count > 0 else PRICE_MAX - yes_price
        pos.total_traded += outcome_price * count
        pos.volume += count
        opening = count
        if pos.position and (pos.position > 0) != (signed_count > 0):
            held = abs(pos.position)
            closing = min(count, held)
            held_price = PRICE_MAX - outcome_price  # what the held side is sold at
            proceeds = held_price * closing
            released = pos.cost * closing // held
            pos.cost -= released
            pos.realized_pnl += proceeds - released
            self.cash += proceeds
            pos.position += closing if pos.position < 0 else -closing
            opening = count - closing
        if opening:
            pos.cost += outcome_price * opening
            self.cash -= outcome_price * opening
            pos.position += opening if signed_count > 0 else -opening
        self.cash -= fee
        pos.fees_paid += fee
        pos.last_updated_ts = self.updated_ts = ts

    def settle(
        self, ticker: str, event_ticker: str, result: Side, ts: int
    ) -> SettlementRecord | None:
        """Pay the open position at the result: each winning contract pays $1 (a hundredth
        pays one cent, so revenue is whole cents exactly)."""
        pos = self.positions.get(ticker)
        if pos is None or (pos.position == 0 and pos.volume == 0):
            return None
        yes_count, no_count = max(pos.position, 0), max(-pos.position, 0)
        revenue_cents = yes_count if result == "yes" else no_count
        revenue = revenue_cents * MICROS_PER_CENT
        record = SettlementRecord(
            ticker=ticker,
            event_ticker=event_ticker,
            result=result,
            yes_count=yes_count,
            yes_cost=pos.cost if yes_count else 0,
            no_count=no_count,
            no_cost=pos.cost if no_count else 0,
            revenue_cents=revenue_cents,
            fee_cost=pos.fees_paid,
            settled_ts=ts,
        )
        self.cash += revenue
        pos.realized_pnl += revenue - pos.cost
        pos.cost = 0
        pos.position = 0
        pos.last_updated_ts = self.updated_ts = ts
        self.settlements.append(record)
        return record
