"""What the engine asks a venue to do. Plain frozen data; ``to_dict`` is plain JSON.

Prices are YES-space limits in price units, counts hundredths (multiples of 100). Every
order is immediate-or-cancel; the venue reports back with ``Engine.on_fill`` and
``Engine.on_order_done`` (or, for an exchange account, ``OwnFill``/``OrderUpdate`` events).
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
