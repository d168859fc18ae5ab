"""``manage.py run_trader``: the paper-trading daemon (issue #8).

Thin like healthchecks' ``sendalerts``: the loop lives in ``trading.runtime``. With
``--sim`` (the default while no exchange feed is configured) the market comes from the
in-process simulator stream, from ``KBTC_HISTORY`` where set.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from trading.runtime.embedded import build_sim_daemon


class Command(BaseCommand):
    help = "Run the realtime paper-trading loop against the simulator"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--speed", type=float, default=None, help="simulated s per wall s")
        parser.add_argument("--start-ms", type=int, default=None, help="simulated start time")
        parser.add_argument("--latency-ms", type=int, default=200)

    def handle(
        self, *args: Any, speed: float | None, start_ms: int | None, latency_ms: int, **options: Any
    ) -> None:
        asyncio.run(self._main(speed=speed, start_ms=start_ms, latency_ms=latency_ms))

    async def _main(self, **kwargs: Any) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        daemon = await build_sim_daemon(**kwargs)
        self.stdout.write(
            f"run_trader: paper trading from {daemon.start_ts} (restored: {daemon.restored})"
        )
        await daemon.run(stop)
