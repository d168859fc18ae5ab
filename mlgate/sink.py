"""The daemon's feature capture: a sink that queues the entry's features and the exit's
label on the daemon's batched writer (never waits on the database, §7.1–7.2).

Rows are keyed by position uid, never by ticker (the original's cross-lane bug, §7.1
[FIX]). The writes are optional ones: a full queue drops them (counted by the writer)
rather than holding the hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from marketdata.model.events import Event
from mlgate import services
from trading.engine.records import FeaturesCaptured, PositionClosed, PositionOpened
from trading.runtime.session import SessionOutput
from trading.runtime.sinks.base import Sink
from trading.runtime.writer import PersistWriter, Write


class FeaturesSink(Sink):
    name = "mlgate_features"

    def __init__(self, writer: PersistWriter) -> None:
        self.writer = writer
        self.tickers: dict[str, str] = {}  # position uid → ticker, from its opening
        self.captured = 0
        self.labelled = 0

    def consume(self, event: Event | None, produced: Sequence[SessionOutput], now: int) -> None:
        for item in produced:
            if isinstance(item, PositionOpened):
                self.tickers[item.position_uid] = item.ticker
            elif isinstance(item, FeaturesCaptured):
                self.captured += 1
                self.writer.put(
                    Write(
                        services.capture,
                        {
                            "position_uid": item.position_uid,
                            "lane": item.lane,
                            "source": "live" if item.lane == "live" else "paper",
                            "ticker": self.tickers.pop(item.position_uid, ""),
                            "entry_ts_ms": item.ts,
                            "features": item.features,
                        },
                    )
                )
            elif isinstance(item, PositionClosed):
                self.labelled += 1
                self.writer.put(
                    Write(
                        services.label,
                        {"position_uid": item.position_uid, "outcome": services.outcome(item)},
                    )
                )

    def health(self) -> dict[str, Any]:
        return {"mlgate": {"captured": self.captured, "labelled": self.labelled}}
