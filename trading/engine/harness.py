"""A reference driver: the engine plus immediate-or-cancel fills against its own books.

For tests, the determinism check and the benchmark (no venue, no I/O). Orders fill level
by level against the displayed book up to their limit, never beyond displayed size
(domain.md §13 point 7), after ``latency_ms`` of event time; fees come from the one fee
function. The paper venue and the backtester have their own fill models; this one exists
so the engine can be exercised end to end in-process.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from marketdata.model.book import LevelFill
from marketdata.model.events import Event
from marketdata.model.fees import OrderFeeAccumulator
from trading.engine.engine import Engine, Output
from trading.engine.intents import ClosePosition, PlaceOrder


class ReplayDriver:
    def __init__(self, engine: Engine, latency_ms: int = 0) -> None:
        self.engine = engine
        self.latency_ms = latency_ms
        self._queue: deque[PlaceOrder | ClosePosition] = deque()

    def run(self, events: Iterable[Event]) -> list[Output]:
        outputs: list[Output] = []
        for event in events:
            outputs.extend(self.feed(event))
        return outputs

    def feed(self, event: Event) -> list[Output]:
        out = self.engine.on_event(event)
        for item in out:
            if isinstance(item, (PlaceOrder, ClosePosition)):
                self._queue.append(item)
        while self._queue and self._queue[0].ts + self.latency_ms <= self.engine.now:
            out.extend(self._fill(self._queue.popleft()))
        return out

    def _fill(self, order: PlaceOrder | ClosePosition) -> list[Output]:
        engine = self.engine
        book = engine.market.books.get(order.ticker)
        levels: list[LevelFill] = []
        if book is not None:
            buys_yes = (order.side == "yes") == isinstance(order, PlaceOrder)
            if buys_yes:  # buy YES, or sell NO: take YES asks up to the limit
                levels = book.walk_asks(order.yes_price, order.count)
            else:  # buy NO, or sell YES: hit YES bids down to the limit
                levels = book.walk_bids(order.yes_price, order.count)
        contract = engine.market.contracts.get(order.ticker)
        fees = OrderFeeAccumulator(
            contract.fee_type if contract else "quadratic",
            contract.fee_multiplier if contract else OrderFeeAccumulator().multiplier,
        )
        fills = [
            (price, count, fees.charge(price, count, is_taker=True)) for price, count in levels
        ]
        out = engine.on_fill(order.lane, order.client_order_id, fills)
        out.extend(engine.on_order_done(order.lane, order.client_order_id))
        return out
