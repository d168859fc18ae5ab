"""The sinks every daemon has: persistence, the dashboard push (a trade pushed once its row
is committed), unfilled orders, the console lines, the counters /metrics reads and the
heartbeat."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from trading.runtime.outbox import Outbox
from trading.runtime.sinks.base import Sink
from trading.runtime.sinks.console import ConsoleSink
from trading.runtime.sinks.counters import CountersSink
from trading.runtime.sinks.dashboard import DashboardSink
from trading.runtime.sinks.heartbeat import HeartbeatSink
from trading.runtime.sinks.orders import UnfilledOrdersSink
from trading.runtime.sinks.persistence import PersistenceSink
from trading.runtime.writer import PersistWriter


def standard_sinks(
    *,
    writer: PersistWriter,
    outbox: Outbox,
    runtime: dict[str, Any],
    snapshot: Callable[[], dict[str, Any]],
    health: Callable[[], dict[str, Any]],
    state_every_ms: int,
    spill_dir: Path,
    heartbeat_s: float,
) -> tuple[PersistenceSink, list[Sink]]:
    persistence = PersistenceSink(
        writer,
        runtime=runtime,
        snapshot=snapshot,
        state_every_ms=state_every_ms,
        spill_dir=spill_dir,
    )
    dashboard = DashboardSink(outbox, runtime=runtime, health=health)
    persistence.on_trade_committed.append(dashboard.trade_committed)
    sinks: list[Sink] = [
        persistence,
        dashboard,
        UnfilledOrdersSink(),
        ConsoleSink(),
        CountersSink(),
        HeartbeatSink(heartbeat_s),
    ]
    return persistence, sinks
