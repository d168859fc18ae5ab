"""Background jobs the embedded demo runs inside the web server's event loop.

Each entry is a zero-argument coroutine function that runs until it is cancelled. On
shutdown (Ctrl-C, SIGTERM) ``run_demo`` cancels them with ``stop_jobs`` and daphne waits
until each has finished its own shutdown before the loop stops.

``paper_trader`` is the embedded profile of interfaces.md §7: it starts the exchange
simulator on an ephemeral 127.0.0.1 port (``KBTC_SIM_SPEED`` simulated seconds per wall
second, default 60; replaying ``KBTC_HISTORY`` where set, else a seeded synthetic path),
registers a throwaway key pair there, points the network clients at it, back-fills the
candles table from its Binance endpoint (the warm-up reads 15-minute candles older than the
start) and runs the same daemon as ``run_trader``: the network clients, over loopback. It
shares daphne's loop and so the in-memory channel layer with the dashboard. Cancelled, it
stops the daemon as SIGTERM stops ``run_trader``: the feeds first, then the final state
saved and every queue drained, so the next start continues where this one stopped.

``retention_keeper`` is the demo's stand-in for beat's retention job (``kbtc_site.retention``),
so the demo's disk stays bounded however long it runs: every ``RETENTION_EVERY_S`` wall
seconds (a simulated hour at the default speed) it archives and deletes what is past the
embedded profile's retention, in a thread of its own (a day's archive takes seconds; the
trader's ORM thread must not wait for it). ``attribution_keeper`` likewise stands in for
beat's attribution jobs, on the trading clock: each simulated day is attributed once it ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from trading.runtime.daemon import Daemon

log = structlog.get_logger(__name__)


async def paper_trader() -> None:
    from trading.runtime.embedded import start_embedded_exchange
    from trading.runtime.factory import build_network_daemon

    # The simulator's access log and the REST client's request log would list every
    # market-list refresh; the demo's console is for the trader.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    embedded = None
    try:
        embedded = await start_embedded_exchange()
        speed = embedded.exchange.clock.speed
        # The market list once a simulated ten minutes (lifecycle messages fill the gaps).
        # The live lane trades on the demo's own simulator account (its endpoints, never
        # the settings'), entering only once the operator switches to live.
        daemon = await build_network_daemon(
            endpoints=embedded.endpoints,
            start_ms=embedded.start_ms,
            refresh_s=max(1.0, 600.0 / speed),
            live=True,
        )
        log.info(
            "demo_paper_trader_started",
            start_ts=daemon.start_ts,
            restored=daemon.restored,
            simulator=embedded.exchange.base_url,
            speed=speed,
        )
        await run_until_cancelled(daemon)
    except Exception:
        log.exception("demo_paper_trader_failed")
        raise
    finally:
        if embedded is not None:
            await embedded.exchange.stop()


async def run_until_cancelled(daemon: Daemon) -> None:
    """Run the daemon until this task is cancelled, then stop it cleanly (state saved)."""
    stop = asyncio.Event()
    running = asyncio.ensure_future(daemon.run(stop))
    try:
        # The daemon's own task is shielded: a cancellation must not cut its shutdown short.
        await asyncio.shield(running)
    except asyncio.CancelledError:
        stop.set()
        await running
        raise


async def stop_jobs(jobs: Iterable[asyncio.Task[None]]) -> None:
    """Cancel the background jobs and wait until each has finished its shutdown."""
    jobs = list(jobs)
    for job in jobs:
        job.cancel()
    for job, result in zip(jobs, await asyncio.gather(*jobs, return_exceptions=True), strict=True):
        if isinstance(result, Exception):
            log.error("demo_job_failed", job=job.get_name(), error=repr(result))


RETENTION_EVERY_S = 60.0


def _retention_pass() -> None:
    from django.db import connection

    from kbtc_site.retention import retention_enforce

    try:
        retention_enforce()
    finally:
        connection.close()  # this pool thread's own connection: not left open between passes


async def retention_keeper() -> None:
    while True:
        await asyncio.sleep(RETENTION_EVERY_S)
        try:
            await asyncio.to_thread(_retention_pass)
        except Exception:  # logged and tried again next pass: the demo keeps trading
            log.exception("demo_retention_failed")


def _attribution_pass() -> None:
    from django.db import connection

    from attribution.monitoring import live_health_check
    from attribution.services import attribution_catch_up

    try:
        attribution_catch_up()  # on the trading clock: the simulated days as they end
        live_health_check()
    finally:
        connection.close()


async def attribution_keeper() -> None:
    """Beat's attribution jobs and hourly signal-health check for the demo, which runs no
    beat (a wall minute is a simulated hour at the default speed)."""
    while True:
        await asyncio.sleep(RETENTION_EVERY_S)
        try:
            await asyncio.to_thread(_attribution_pass)
        except Exception:  # logged and tried again next pass
            log.exception("demo_attribution_failed")


BACKGROUND_JOBS: list[Callable[[], Coroutine[Any, Any, None]]] = [
    paper_trader,
    retention_keeper,
    attribution_keeper,
]
