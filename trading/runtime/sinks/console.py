"""The operator's console: one INFO line per trade opened or closed and per breaker change,
so that a trader watching the daemon's log sees what it did without the dashboard.
(Controls are logged where they are written: ``trading.services.controls``.)"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from marketdata.model.events import Event
from trading.engine.records import BreakerChanged, PositionClosed, PositionOpened
from trading.runtime.session import SessionOutput
from trading.runtime.sinks.base import Sink

log = structlog.get_logger("trading.console")


def _dollars(micros: int) -> str:
    return f"{micros / 1_000_000:.2f}"


def trade_opened(record: PositionOpened) -> None:
    log.info(
        "trade_opened",
        lane=record.lane,
        ticker=record.ticker,
        direction=record.direction,
        contracts=record.count / 100,
        entry=record.entry_yes_price / 10_000,
        cost=_dollars(record.cost),
        conviction=record.conviction,
        driver=record.driver,
    )


def trade_closed(record: PositionClosed) -> None:
    log.info(
        "trade_closed",
        lane=record.lane,
        ticker=record.ticker,
        direction=record.direction,
        contracts=record.count / 100,
        entry=record.entry_yes_price / 10_000,
        exit=record.exit_yes_price / 10_000,
        pnl=_dollars(record.pnl),
        reason=record.reason,
        quarantined=record.quarantine or None,
    )


def breaker_changed(record: BreakerChanged) -> None:
    log.info(
        "breaker_changed",
        lane=record.lane,
        state=record.reason or "cleared",
        enforced=record.halts if record.reason else None,
        bankroll=_dollars(record.bankroll),
    )


class ConsoleSink(Sink):
    name = "console"

    def consume(self, event: Event | None, produced: Sequence[SessionOutput], now: int) -> None:
        for item in produced:
            if isinstance(item, PositionOpened):
                trade_opened(item)
            elif isinstance(item, PositionClosed):
                trade_closed(item)
            elif isinstance(item, BreakerChanged):
                breaker_changed(item)
