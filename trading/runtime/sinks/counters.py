"""Counts since the start for ``/metrics`` (Prometheus counters: a restart resets them, as
``rate()`` expects): the lanes' evaluations by outcome, the orders they sent and the fills
their venues reported."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from marketdata.model.events import Event, OwnFill
from trading.engine.intents import ClosePosition, PlaceOrder
from trading.engine.records import Decision
from trading.runtime.session import SessionOutput
from trading.runtime.sinks.base import Sink
from trading.venues.base import VenueReport


class CountersSink(Sink):
    name = "counters"

    def __init__(self) -> None:
        self.decisions: Counter[str] = Counter()  # "lane:reason" (ENTRY or the skip)
        self.orders: Counter[str] = Counter()  # lane → orders sent (entries and exits)
        self.fills: Counter[str] = Counter()  # lane → fills reported

    def consume(self, event: Event | None, produced: Sequence[SessionOutput], now: int) -> None:
        for item in produced:
            if isinstance(item, Decision):
                self.decisions[f"{item.lane}:{item.reason}"] += 1
            elif isinstance(item, PlaceOrder | ClosePosition):
                self.orders[item.lane] += 1
            elif isinstance(item, VenueReport) and isinstance(item.update, OwnFill):
                self.fills[item.lane] += 1

    def health(self) -> dict[str, Any]:
        return {
            "decisions": dict(self.decisions),
            "orders": dict(self.orders),
            "fills": dict(self.fills),
        }
