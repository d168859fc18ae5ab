"""Persistence: the records that become rows, through the batched writer.

Signal-log rows (sampled by ``DecisionLogGate``; entries and exits always), the position's
rows (opened, every fill's count, cost and fees, closed), an equity row per lane status,
and the session's state: at every fill (entry and exit), close and breaker change and
every ``state_every_ms`` of event time. Trades and positions are critical writes (never
dropped; spilled at a stop during an outage, ``trading.runtime.spill``). Something that
must happen only once a trade's row is committed (the dashboard's push) registers in
``on_trade_committed``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import structlog

from marketdata.model.events import Event
from trading.engine.intents import ClosePosition
from trading.engine.records import (
    BreakerChanged,
    Decision,
    LaneStatus,
    PositionClosed,
    PositionOpened,
    PositionUpdated,
)
from trading.runtime import outputs
from trading.runtime.session import SessionOutput
from trading.runtime.sinks.base import Sink
from trading.runtime.spill import spill_lines, spill_save
from trading.runtime.state import count_trade, save_state_write, trade_counts
from trading.runtime.writer import PersistWriter, Write
from trading.services.trades import DecisionLogGate, bankroll_record, open_positions_reconcile

log = structlog.get_logger(__name__)

# The updates that change what the open position row holds (its count, cost and fees).
FILL_UPDATES = frozenset({"entry_fill", "exit_fill", "recount"})


class PersistenceSink(Sink):
    name = "persistence"

    def __init__(
        self,
        writer: PersistWriter,
        *,
        runtime: dict[str, Any],
        snapshot: Callable[[], dict[str, Any]],
        state_every_ms: int,
        spill_dir: Path,
    ) -> None:
        self.writer = writer
        self.spill_dir = spill_dir  # writes a stop could not make go here
        self.runtime = runtime  # the daemon's: trade counts live there across restarts
        self.snapshot = snapshot  # the session's snapshot with the daemon's runtime
        self.state_every_ms = state_every_ms
        self.gate = DecisionLogGate()
        self.statuses: dict[str, LaneStatus] = {}
        self.last_decision: dict[str, Decision] = {}
        self.on_trade_committed: list[Callable[[PositionClosed], None]] = []
        self.last_save_ts: int | None = None
        self.unwritten_at_stop = 0
        self.reconciled: dict[str, list[str]] = {}  # the start's open-position check

    def start(self, records: Sequence[SessionOutput], *, restored: bool = False) -> None:
        held = []
        for item in records:
            if isinstance(item, LaneStatus):
                self.statuses[item.lane] = item
            elif isinstance(item, PositionOpened):
                held.append(outputs.position_open_write(item, None).kwargs)
        # The stored open positions and the engine's agree after every start (issue #15):
        # a held position gets its row, a row nobody holds is a trouble.
        lanes = sorted(self.statuses)
        self.writer.put(
            Write(
                open_positions_reconcile,
                {"lanes": lanes, "held": held},
                critical=True,
                after=self._reconciled,
            )
        )

    def _reconciled(self, result: dict[str, list[str]]) -> None:
        self.reconciled = result
        if result["rows_written"]:
            log.warning("open_position_rows_restored", positions=result["rows_written"])
        if result["rows_not_held"]:
            log.error("open_position_rows_not_held", positions=result["rows_not_held"])

    def consume(self, event: Event | None, produced: Sequence[SessionOutput], now: int) -> None:
        save = False
        for item in produced:
            if isinstance(item, Decision):
                self._decision(item)
            elif isinstance(item, LaneStatus):
                self._status(item)
            elif isinstance(item, PositionUpdated):
                if item.reason in FILL_UPDATES:
                    self.writer.put(outputs.position_update_write(item))
                    save = True
            elif isinstance(item, ClosePosition):
                status = self.statuses.get(item.lane)
                params_hash = status.params_hash if status is not None else ""
                self.writer.put(outputs.exit_decision_write(item, params_hash))
            elif isinstance(item, PositionOpened):
                decision = self.last_decision.get(item.lane)
                self.writer.put(outputs.position_open_write(item, decision))
                # The state goes with the row (one batch, in order): a trader killed right
                # after an entry restarts knowing the position it holds (issue #15).
                save = True
            elif isinstance(item, PositionClosed):
                self._closed(item)
                save = True
            elif isinstance(item, BreakerChanged):
                save = True
        if self.last_save_ts is None:
            self.last_save_ts = now
        if save or now - self.last_save_ts >= self.state_every_ms:
            self.save_state(now)

    def save_state(self, now: int) -> None:
        self.last_save_ts = now
        self.writer.put(save_state_write(self.snapshot(), self.statuses, self.runtime))

    def _decision(self, decision: Decision) -> None:
        self.last_decision[decision.lane] = decision
        entered = decision.reason == "ENTRY"
        kind = self.gate.kind_for(
            lane=decision.lane,
            ts_ms=decision.ts,
            direction=outputs.direction(decision.direction),
            skip_reason="" if entered else decision.reason,
            conviction=decision.conviction,
            entered=entered,
        )
        if kind is not None:
            self.writer.put(outputs.decision_write(decision, kind))

    def _status(self, status: LaneStatus) -> None:
        self.statuses[status.lane] = status
        self.writer.put(
            Write(
                bankroll_record,
                {
                    "lane": status.lane,
                    "ts_ms": status.ts,
                    "bankroll": status.bankroll,
                    "peak": status.peak,
                    "daily_pnl": status.bankroll - status.daily_start,
                    "trade_count": trade_counts(self.runtime, status.lane, status.ts)[0],
                },
            )
        )

    def _closed(self, record: PositionClosed) -> None:
        count_trade(self.runtime, record.lane, record.ts)
        callbacks = tuple(self.on_trade_committed)

        def committed(_: Any) -> None:  # only once the row is committed (Zulip style)
            for callback in callbacks:
                callback(record)

        self.writer.put(outputs.position_close_write(record, after=committed))

    # --- lifecycle -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await self.writer.run(stop)

    def health(self) -> dict[str, Any]:
        return {
            "open_rows_not_held": self.reconciled.get("rows_not_held", []),
            "db": self.writer.state(),
            "writer_lag_s": round(self.writer.lag_s(), 3),
            "writer_dropped": self.writer.dropped,
            "queues": {"writer": self.writer.pending},
        }

    async def close(self) -> None:
        await self.writer.flush()
        self.unwritten_at_stop = self.writer.pending  # what the database would not take
        if self.writer.pending:
            self._spill_unwritten()

    def _spill_unwritten(self) -> None:
        """The database was away for the whole stop: what is still queued (the final state
        save among it) goes to a spill file the next start applies before it restores."""
        writer = self.writer
        writes = writer.unwritten()
        error = writer.outage_error
        lines, unspillable = spill_lines(writer.take_unwritten())
        try:
            path = spill_save(lines, self.spill_dir) if lines else None
        except OSError as exc:
            log.error(
                "persist_lost_on_stop",
                pending=len(lines) + len(unspillable),
                writes=writes,
                error=f"{error}; spill file: {type(exc).__name__}: {exc}",
            )
            return
        if path is not None:
            log.warning(
                "persist_spilled", count=len(lines), path=str(path), writes=writes, error=error
            )
        if unspillable:
            log.error(
                "persist_lost_on_stop",
                pending=len(unspillable),
                writes=dict(Counter(unspillable)),
                error=error,
            )
