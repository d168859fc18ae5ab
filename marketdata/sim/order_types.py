"""Orders as the simulator holds them: the normalised request, the order's state, refusals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from marketdata.model.events import Side
from marketdata.model.fees import OrderFeeAccumulator
from marketdata.model.units import PRICE_MAX

BookSide = Literal["bid", "ask"]
TIME_IN_FORCE = ("fill_or_kill", "good_till_canceled", "immediate_or_cancel")
STP = ("taker_at_cross", "maker")


class OrderError(Exception):
    """A refusal, answered with ``status`` and the nested error body (protocols §1.5)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A create, normalised from either endpoint (YES-space price, hundredths)."""

    ticker: str
    book_side: BookSide
    yes_price: int
    count: int
    time_in_force: str
    client_order_id: str
    side: Side  # the deprecated pair as given (V2: yes/buy for bid, yes/sell for ask)
    action: str
    self_trade_prevention_type: str = "taker_at_cross"
    post_only: bool = False
    expiration_ts: int | None = None
    reduce_only: bool = False


@dataclass
class SimOrder:
    order_id: str
    user_id: str
    request: OrderRequest
    client_order_id: str
    yes_price: int
    initial: int
    created_ts: int
    fees: OrderFeeAccumulator
    remaining: int = 0
    filled: int = 0
    status: str = "resting"
    taker_cost: int = 0
    maker_cost: int = 0
    taker_fees: int = 0
    maker_fees: int = 0
    reserved: int = 0
    updated_ts: int = 0
    fill_value: int = 0  # sum of YES price x count, for the average fill price
    fill_fees: list[int] = field(default_factory=list)

    @property
    def ticker(self) -> str:
        return self.request.ticker

    @property
    def is_bid(self) -> bool:
        return self.request.book_side == "bid"

    @property
    def rest_side(self) -> Side:
        return "yes" if self.is_bid else "no"

    @property
    def rest_price(self) -> int:
        return self.yes_price if self.is_bid else PRICE_MAX - self.yes_price

    def outcome_price(self, yes_price: int) -> int:
        return yes_price if self.is_bid else PRICE_MAX - yes_price
