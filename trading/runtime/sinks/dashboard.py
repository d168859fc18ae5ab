"""The dashboard push: the records the live pages show, coalesced in the outbox.

Market card from the engine's per-second ``MarketSnapshot`` (and the chart's forming bar
from the spot prints themselves), the Signal panel from each lane's ``Decision``, the
position from the position records, equity and breaker from ``LaneStatus``, and a closed
trade once its row is committed (``PersistenceSink.on_trade_committed``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from marketdata.model.events import Event, SpotTicker, SpotTrade
from trading import push
from trading.engine.records import (
    Decision,
    LaneStatus,
    MarketSnapshot,
    PositionClosed,
    PositionOpened,
    PositionUpdated,
)
from trading.runtime import outputs
from trading.runtime.outbox import Outbox
from trading.runtime.session import SessionOutput
from trading.runtime.sinks.base import Sink
from trading.runtime.state import trade_counts

log = structlog.get_logger(__name__)


class DashboardSink(Sink):
    name = "dashboard"

    def __init__(
        self,
        outbox: Outbox,
        *,
        runtime: dict[str, Any],
        health: Callable[[], dict[str, Any]],
    ) -> None:
        self.outbox = outbox
        self.runtime = runtime
        self.health_payload = health
        self.held: dict[str, PositionOpened] = {}
        self.updates: dict[str, PositionUpdated] = {}

    def consume(self, event: Event | None, produced: Sequence[SessionOutput], now: int) -> None:
        outbox = self.outbox
        if isinstance(event, SpotTrade | SpotTicker):
            outbox.on_spot(event.ts, event.price)
        for item in produced:
            if isinstance(item, MarketSnapshot):
                outbox.market(item)
            elif isinstance(item, Decision):
                outbox.put("signal", item.lane, outputs.signal_payload(item))
            elif isinstance(item, LaneStatus):
                trades = trade_counts(self.runtime, item.lane, item.ts)[0]
                outbox.equity(item, trades)
            elif isinstance(item, PositionOpened):
                self.held[item.lane] = item
                self.updates.pop(item.lane, None)
                self._position(item.lane, item.ts)
            elif isinstance(item, PositionUpdated):
                if item.lane in self.held:
                    self.updates[item.lane] = item
                    self._position(item.lane, item.ts)
            elif isinstance(item, PositionClosed):
                self.held.pop(item.lane, None)
                self.updates.pop(item.lane, None)
                self._position(item.lane, item.ts)

    def start(self, records: Sequence[SessionOutput], *, restored: bool = False) -> None:
        now = max((item.ts for item in records), default=0)
        self.consume(None, records, now)

    def trade_committed(self, record: PositionClosed) -> None:
        self.outbox.put("trade", record.lane, outputs.trade_payload(record))

    def _position(self, lane: str, now: int) -> None:
        self.outbox.position(lane, self.held.get(lane), self.updates.get(lane), now)

    async def run(self, stop: asyncio.Event) -> None:
        await self.outbox.run(stop, health=self.health_payload)

    async def close(self) -> None:
        # A stop must end even with a dependency away: what could not be done is logged.
        publisher = push.default_publisher()
        try:
            # The coalescing publisher may still hold a trailing send: the dashboard's last
            # view of this run is the final one, not whichever preceded it.
            await asyncio.wait_for(self.outbox.publish_pending(publisher), 5.0)
            await asyncio.wait_for(publisher.drain(), 5.0)
        except TimeoutError:
            log.warning("publish_on_stop_timed_out")

    def health(self) -> dict[str, Any]:
        return {"redis": self.outbox.redis_state()}
