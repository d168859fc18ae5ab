"""The contracts the lanes hold, from the position records: what the network feed keeps
subscribed through a rotation of the active market (a held contract's book and result
must keep arriving until it is closed)."""

from __future__ import annotations

from collections.abc import Sequence

from marketdata.model.events import Event
from trading.engine.records import PositionClosed, PositionOpened, PositionUpdated
from trading.runtime.session import SessionOutput
from trading.runtime.sinks.base import Sink


class HeldContractsSink(Sink):
    name = "held"

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, int]] = {}  # lane → (ticker, open count)

    def start(self, records: Sequence[SessionOutput], *, restored: bool = False) -> None:
        self.consume(None, records, 0)

    def consume(self, event: Event | None, produced: Sequence[SessionOutput], now: int) -> None:
        for item in produced:
            if isinstance(item, PositionOpened):
                self._held[item.lane] = (item.ticker, item.count)
            elif isinstance(item, PositionUpdated) and item.lane in self._held:
                ticker = self._held[item.lane][0]
                self._held[item.lane] = (ticker, item.count)
            elif isinstance(item, PositionClosed):
                self._held.pop(item.lane, None)

    def positions(self) -> dict[str, int]:
        """Ticker → contracts held over the lanes."""
        held: dict[str, int] = {}
        for ticker, count in self._held.values():
            if count > 0:
                held[ticker] = held.get(ticker, 0) + count
        return held
