"""What the engine asks a venue to do. Plain frozen data; ``to_dict`` is plain JSON.

Prices are YES-space limits in price units, counts hundredths (multiples of 100). Every
order is immediate-or-cancel; the venue reports back, through ``Engine.on_report``, what an
exchange account says (``OwnFill``/``OrderUpdate`` events) and, for an exchange account,
what only the venue learns: the position the exchange holds (``PositionCorrection``), the
account's cash (``BalanceSync``), an order of the last run (``OrderRestored``) and a
settlement it has checked (``PositionSettled``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from marketdata.model.events import Side
from marketdata.model.frozen import fast_init

Purpose = Literal["entry", "exit"]


@fast_init
@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """Buy ``side`` for a new position: YES for a long, NO for a short."""

    kind: ClassVar[str] = "place_order"
    ts: int
    lane: str
    client_order_id: str
    ticker: str
    side: Side
    yes_price: int  # limit in YES space: a long pays at most this; a short at most 10000 − it
    count: int
    reason: str  # the decision's driver and conviction

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}


@fast_init
@dataclass(frozen=True, slots=True)
class ClosePosition:
    """Sell the held ``side`` (aggressive, immediate-or-cancel) because of ``reason``."""

    kind: ClassVar[str] = "close_position"
    ts: int
    lane: str
    client_order_id: str
    position_uid: str
    ticker: str
    side: Side
    yes_price: int  # worst acceptable YES-space price: long floor, short ceiling
    count: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}


@fast_init
@dataclass(frozen=True, slots=True)
class CancelOrder:
    kind: ClassVar[str] = "cancel_order"
    ts: int
    lane: str
    client_order_id: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}


Intent = PlaceOrder | ClosePosition | CancelOrder


@dataclass(frozen=True, slots=True)
class PositionCorrection:
    """A venue's word on its lane's position: the exchange holds ``count`` (hundredths, the
    position's side) on ``ticker`` and nothing else ("" and 0: nothing). Sent when the
    venue's tracked position changed without fills (reconciliation set its count, cleared
    a ghost, resolved a desync; a failed exit or an emergency stop handed it to the orphan
    path) and at start (its durable state). The engine sets its position to it: a count
    of 0 leaves the lane flat, booking neither an exit nor a settlement (``reason`` labels
    the handed-off position's record); another count keeps the average entry price.
    ``working`` (at start): the lane's orders the venue is working on; any other order
    of the lane is over (a saved state's order the venue never sent, or answered before
    the stop)."""

    kind: ClassVar[str] = "position_correction"
    ts: int
    ticker: str
    count: int
    reason: str
    working: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class BalanceSync:
    """The exchange account's value outside the lane's own position: ``cash`` (the
    balance) and ``held`` (what the account holds besides, at cost: orphans' cost and
    fees, and payouts the exchange has not paid yet), micro-dollars. The lane's bankroll
    becomes ``cash + held`` plus its own open position's cost and entry fees (the
    bankroll is cash plus open cost: an entry does not move it, an exit's PnL does)."""

    kind: ClassVar[str] = "balance_sync"
    ts: int
    cash: int
    held: int


@dataclass(frozen=True, slots=True)
class OrderRestored:
    """A venue's account, at its start, of one of the lane's orders that was in flight when
    the last run stopped, looked up on the exchange by its client order id: what it filled
    (``fills``: YES price, count, fee each; none when it was never placed or sold nothing)
    and that it is over. The engine's saved state may be older than the order: an entry
    it does not know opens the lane's position from these fills when the lane is flat (its
    driver unknown), an exit it does not know closes (part of) the position held on
    ``ticker`` under ``reason``, unless it is the exit the position already booked last
    (its saved state's). ``earlier``: hundredths the venue reported for the same
    engine order before this exchange order (an exit's earlier attempts), so the fills the
    engine already has are not booked twice. ``entry``: the engine's entry order of the
    position the exit sold ("" when the venue does not know it): an exit is taken up only
    for that position, never for a later one on the same market. A venue also tells again,
    at start, its last round trip's sales (the engine's saved state may predate them)."""

    kind: ClassVar[str] = "order_restored"
    ts: int
    client_order_id: str
    purpose: Purpose
    ticker: str
    side: Side
    reason: str
    fills: tuple[tuple[int, int, int], ...]
    earlier: int = 0
    entry: str = ""


@dataclass(frozen=True, slots=True)
class PositionSettled:
    """An exchange venue's word on the settlement of its lane's position on ``ticker``
    (domain.md §3.17.6): the contract paid on ``result`` and the venue has checked the
    account, so the lane books its position at $1 or $0 under ``reason``:
    ``CONTRACT_SETTLED``; ``EXPIRY_409_SETTLED`` after an exit the exchange refused
    because the market had closed (§3.17.3 step 2); ``CONTRACT_SETTLED_VERIFY_FAILED``
    when every read of the account's position failed (incident 451/454). A lane on an
    exchange (``Engine.trade_on_exchange``) books its settlements only from this."""

    kind: ClassVar[str] = "position_settled"
    ts: int
    ticker: str
    result: Side
    reason: str


VenueNotice = PositionCorrection | BalanceSync | OrderRestored | PositionSettled
