"""Orders a venue could not fill in full: counted by lane and reason, logged one line each.

The engine's bookkeeping follows from the fills alone; this makes the refusals visible on
the health panel (no liquidity, the market no longer open, a partial fill with the rest
cancelled: immediate-or-cancel).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import structlog

from marketdata.model.events import Event, OrderUpdate
from trading.runtime.session import SessionOutput
from trading.runtime.sinks.base import Sink
from trading.venues.base import VenueReport

log = structlog.get_logger(__name__)


class UnfilledOrdersSink(Sink):
    name = "orders"

    def __init__(self) -> None:
        self.unfilled: Counter[str] = Counter()  # "lane:reason" → orders not (fully) filled

    def consume(self, event: Event | None, produced: Sequence[SessionOutput], now: int) -> None:
        for item in produced:
            if isinstance(item, VenueReport) and item.reason and item.reason != "cancelled":
                update = item.update
                assert isinstance(update, OrderUpdate)
                self.unfilled[f"{item.lane}:{item.reason}"] += 1
                log.warning(
                    "order_not_filled",
                    lane=item.lane,
                    client_order_id=update.client_order_id,
                    reason=item.reason,
                    filled=update.filled_count,
                    ts=update.ts,
                )

    def health(self) -> dict[str, Any]:
        return {"orders_unfilled": dict(self.unfilled)}
