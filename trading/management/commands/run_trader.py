"""``manage.py run_trader``: the paper-trading daemon (issue #8).

Thin like healthchecks' ``sendalerts``: the loop lives in ``trading.runtime``. By default
the market comes over the network from the exchange settings (``KALSHI_API_URL``,
``KALSHI_WS_URL``, ``COINBASE_WS_URL``, ``KALSHI_API_KEY_ID``, ``KALSHI_PRIVATE_KEY_PATH``:
the real exchanges, or a ``simulate_exchange`` server) and the warm-up candles from the
candles table (``backfill_klines``). ``--sim-stream`` instead steps the in-process
simulator's event stream (from ``KBTC_HISTORY`` where set; no sockets), for tests and
offline experiments.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from marketdata.kalshi.signing import KeyFileError
from trading.runtime.embedded import build_network_daemon, build_sim_daemon


class Command(BaseCommand):
    help = "Run the realtime paper-trading loop on the exchange feeds (or the simulator stream)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--sim-stream",
            action="store_true",
            help="feed the in-process simulator stream instead of the network clients",
        )
        parser.add_argument(
            "--speed", type=float, default=None, help="--sim-stream: simulated s per wall s"
        )
        parser.add_argument(
            "--start-ms", type=int, default=None, help="--sim-stream: simulated start time"
        )
        parser.add_argument("--latency-ms", type=int, default=200, help="paper order latency")
        parser.add_argument(
            "--refresh-s", type=float, default=60.0, help="market list refresh (wall s)"
        )

    def handle(self, *args: Any, sim_stream: bool, **options: Any) -> None:
        try:
            asyncio.run(self._main(sim_stream=sim_stream, **options))
        except KeyFileError as exc:
            raise CommandError(str(exc)) from exc

    async def _main(
        self,
        *,
        sim_stream: bool,
        speed: float | None,
        start_ms: int | None,
        latency_ms: int,
        refresh_s: float,
        **_: Any,
    ) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if sim_stream:
            daemon = await build_sim_daemon(speed=speed, start_ms=start_ms, latency_ms=latency_ms)
            source = "the in-process simulator stream"
        else:
            daemon = await build_network_daemon(latency_ms=latency_ms, refresh_s=refresh_s)
            source = "the exchange feeds"
        self.stdout.write(
            f"run_trader: paper trading on {source} from {daemon.start_ts} "
            f"(restored: {daemon.restored})"
        )
        await daemon.run(stop)
