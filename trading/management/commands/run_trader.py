"""``manage.py run_trader``: the paper-trading daemon (issue #8).

Thin like healthchecks' ``sendalerts``: the loop lives in ``trading.runtime``. By default
the market comes over the network from the exchange settings (``KALSHI_API_URL``,
``KALSHI_WS_URL``, ``COINBASE_WS_URL``, ``KALSHI_API_KEY_ID``, ``KALSHI_PRIVATE_KEY_PATH``:
the real exchanges, or a ``simulate_exchange`` server) and the warm-up candles from the
candles table (``backfill_klines``). ``--sim-stream`` instead steps the in-process
simulator's event stream (from ``KBTC_HISTORY`` where set; no sockets), for tests and
offline experiments.

"Now" starts where the market is: ``--start-ms`` if given; else, when ``KALSHI_API_URL`` is
on loopback (the simulator listens only there), the simulator's own clock (``GET
/sim/clock``), so a simulator replaying the past gets a warm-up from the candles before its
time, not before the wall clock's; else the wall clock (the real exchanges).

The database is the one thing it cannot start without (the saved state, the spilled
writes of a stop during an outage, the warm-up candles): it waits ``KBTC_DB_WAIT_S`` for
it, logging each refused attempt, then exits with one line naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

import httpx
import structlog
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import InterfaceError, OperationalError, connection

from kbtc_core.db import db_call
from kbtc_core.net import on_loopback
from kbtc_core.spillfiles import SpillError
from marketdata.kalshi.signing import KeyFileError
from trading.runtime.factory import build_network_daemon
from trading.runtime.spill import spill_apply

log = structlog.get_logger(__name__)

DB_RETRY_S = 3.0
_DB_DOWN = (OperationalError, InterfaceError)


def database_name() -> str:
    """Which database, for the error line (never the password)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"SQLite {db['NAME']}"
    return f"PostgreSQL {db['NAME']!r} at {db['HOST'] or 'localhost'}:{db['PORT'] or 5432}"


def _error_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _connect() -> None:
    connection.ensure_connection()


async def wait_for_database(wait_s: float, stop: asyncio.Event) -> bool:
    """True once the database answers; False when stopped while waiting. Raises
    ``CommandError`` (one line naming the database) when it has not answered in ``wait_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    attempts = 0
    while not stop.is_set():
        attempts += 1
        try:
            await db_call(_connect)()
            return True
        except _DB_DOWN as exc:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise CommandError(
                    f"run_trader: the database ({database_name()}) is unreachable after "
                    f"{attempts} attempts in {wait_s:g} s (KBTC_DB_WAIT_S): {_error_line(exc)}"
                ) from None
            log.warning(
                "database_unavailable",
                database=database_name(),
                error=_error_line(exc),
                attempt=attempts,
                retry_in_s=round(min(DB_RETRY_S, remaining), 1),
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(DB_RETRY_S, remaining))
    return False


async def market_start_ms(kalshi_api_url: str) -> int | None:
    """The simulator's simulated now when ``kalshi_api_url`` is on loopback; None for a
    remote exchange (whose time is wall time). A loopback exchange that does not answer
    ``/sim/clock`` is a ``CommandError``: starting at the wall clock would find no warm-up."""
    if not on_loopback(kalshi_api_url):
        return None
    root = kalshi_api_url.split("/trade-api/", 1)[0].rstrip("/")
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(f"{root}/sim/clock")
            response.raise_for_status()
            released = response.json()["released_ms"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise CommandError(
            f"run_trader: KALSHI_API_URL ({kalshi_api_url}) is on loopback but its simulator"
            f" clock ({root}/sim/clock) did not answer: {_error_line(exc)}; pass --start-ms"
        ) from None
    if not isinstance(released, int) or isinstance(released, bool):
        raise CommandError(f"run_trader: {root}/sim/clock answered released_ms={released!r}")
    return released


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
            "--start-ms",
            type=int,
            default=None,
            help="market start time, ms (default: the simulator's clock on loopback, else now)",
        )
        parser.add_argument("--latency-ms", type=int, default=200, help="paper order latency")
        parser.add_argument(
            "--refresh-s", type=float, default=60.0, help="market list refresh (wall s)"
        )
        parser.add_argument(
            "--live",
            action="store_true",
            help="add the live lane on the Kalshi account (needs KALSHI_ENV or both URLs, and a"
            " key); it enters only while the trading mode is live",
        )

    def handle(self, *args: Any, sim_stream: bool, **options: Any) -> None:
        if options.get("live"):
            from trading.runtime.live import live_refusal

            if sim_stream:
                raise CommandError("run_trader: --live trades on an exchange, not --sim-stream")
            refusal = live_refusal(settings.KBTC)
            if refusal:
                raise CommandError(f"run_trader: {refusal}")
        try:
            asyncio.run(self._main(sim_stream=sim_stream, **options))
        except (KeyFileError, SpillError) as exc:
            raise CommandError(str(exc)) from exc

    async def _main(
        self,
        *,
        sim_stream: bool,
        speed: float | None,
        start_ms: int | None,
        latency_ms: int,
        refresh_s: float,
        live: bool = False,
        **_: Any,
    ) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if not await wait_for_database(settings.KBTC["DB_WAIT_S"], stop):
            return  # stopped while waiting: nothing was started
        try:
            # Before the builders read the saved state (the sim stream starts after it).
            await db_call(spill_apply)(Path(settings.KBTC["DATA_DIR"]))
            if sim_stream:
                # the simulator is imported only when asked for
                from trading.runtime.embedded import build_sim_daemon

                daemon = await build_sim_daemon(
                    speed=speed, start_ms=start_ms, latency_ms=latency_ms
                )
                source = "the in-process simulator stream"
            else:
                if start_ms is None:
                    start_ms = await market_start_ms(str(settings.KBTC["KALSHI_API_URL"]))
                daemon = await build_network_daemon(
                    start_ms=start_ms, latency_ms=latency_ms, refresh_s=refresh_s, live=live
                )
                source = "the exchange feeds" + (" with the live lane" if live else "")
        except _DB_DOWN as exc:
            raise CommandError(
                f"run_trader: the database ({database_name()}) went away while starting: "
                f"{_error_line(exc)}"
            ) from None
        self.stdout.write(
            f"run_trader: paper trading on {source} from {daemon.start_ts} "
            f"(restored: {daemon.restored})"
        )
        await daemon.run(stop)
