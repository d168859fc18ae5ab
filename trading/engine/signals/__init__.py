"""Entry signals: order-book imbalance, candle rate of change, spread divergence."""

from typing import Literal

Direction = Literal["LONG", "SHORT"]
