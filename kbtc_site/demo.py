"""Background jobs the embedded demo runs inside the web server's event loop.

Each entry is a zero-argument coroutine function that runs until the process stops.

``paper_trader`` is the embedded profile of interfaces.md §7: it starts the exchange
simulator on an ephemeral 127.0.0.1 port (``KBTC_SIM_SPEED`` simulated seconds per wall
second, default 60; replaying ``KBTC_HISTORY`` where set, else a seeded synthetic path),
registers a throwaway key pair there, points the exchange settings at it, back-fills the
candles table from its Binance endpoint (the warm-up reads 15-minute candles older than the
start) and runs the same daemon as ``run_trader``: the network clients, over loopback. It
shares daphne's loop and so the in-memory channel layer with the dashboard.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)


async def paper_trader() -> None:
    from trading.runtime.embedded import build_network_daemon, start_embedded_exchange

    # The simulator's access log and the REST client's request log would list every
    # market-list refresh; the demo's console is for the trader.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    embedded = None
    try:
        embedded = await start_embedded_exchange()
        speed = embedded.exchange.clock.speed
        # The market list once a simulated ten minutes (lifecycle messages fill the gaps).
        daemon = await build_network_daemon(
            start_ms=embedded.start_ms, refresh_s=max(1.0, 600.0 / speed)
        )
        log.info(
            "demo_paper_trader_started",
            start_ts=daemon.start_ts,
            restored=daemon.restored,
            simulator=embedded.exchange.base_url,
            speed=speed,
        )
        await daemon.run(asyncio.Event())  # runs until the process stops
    except Exception:
        log.exception("demo_paper_trader_failed")
        raise
    finally:
        if embedded is not None:
            await embedded.exchange.stop()


BACKGROUND_JOBS: list[Callable[[], Coroutine[Any, Any, None]]] = [paper_trader]
