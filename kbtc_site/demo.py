"""Background jobs the embedded demo runs inside the web server's event loop.

Each entry is a zero-argument coroutine function that runs until the process stops.
The paper trader runs here on the in-process simulator stream (accelerated by
``KBTC_SIM_SPEED``, from ``KBTC_HISTORY`` where set), sharing daphne's loop and so the
in-memory channel layer with the dashboard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)


async def paper_trader() -> None:
    from trading.runtime.embedded import build_sim_daemon

    try:
        daemon = await build_sim_daemon()
        log.info("demo_paper_trader_started", start_ts=daemon.start_ts, restored=daemon.restored)
        await daemon.run(asyncio.Event())  # runs until the process stops
    except Exception:
        log.exception("demo_paper_trader_failed")
        raise


BACKGROUND_JOBS: list[Callable[[], Coroutine[Any, Any, None]]] = [paper_trader]
