"""The canary against Kalshi's demo exchange (``KALSHI_ENV=demo`` and a key): ``run_trader
--live`` on the wall clock for the hours asked, on the configured database and the demo
account, then paused until the live position is out, stopped, and the promotion gates over
the live rows of the run's window; the oversize orders come from the account's order list.
Never production: any ``KALSHI_ENV`` but ``demo`` is refused."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from kbtc_core.db import db_call
from marketdata.kalshi.config import signer_from_settings
from marketdata.kalshi.rest import KalshiRestClient
from trading.chaos.gates import Gate, promotion_gates
from trading.chaos.harness import OPERATOR, HarnessError
from trading.chaos.process import Trader
from trading.models import LivePositionState
from trading.runtime.live import live_refusal
from trading.services import controls

SETTLE_S = 20 * 60  # wall time the last position gets to exit or settle


def demo_refusal() -> str:
    kbtc = settings.KBTC
    if kbtc["KALSHI_ENV"] != "demo":
        env = kbtc["KALSHI_ENV"]
        return f"the canary trades on the simulator or Kalshi's demo, not KALSHI_ENV={env}"
    return live_refusal(kbtc) or ""


def _live_row() -> tuple[str, dict[str, object]] | None:
    return LivePositionState.objects.filter(lane="live").values_list("state", "data").first()


async def run_demo(hours: float, data_dir: Path, say: Callable[[str], None]) -> list[Gate]:
    refusal = demo_refusal()
    if refusal:
        raise HarnessError(refusal)
    since = datetime.now(tz=UTC)
    trader = Trader({**os.environ, "KBTC_DATA_DIR": str(data_dir)}, data_dir / "run_trader.log")
    try:
        await _until(trader, lambda row: row is not None, 180, "the live lane's start")
        await db_call(controls.trading_mode_set)(mode="live", confirm=True, actor=OPERATOR)
        say(f"canary on Kalshi's demo for {hours:g} h from {since:%Y-%m-%d %H:%M} UTC")
        await _until(trader, lambda row: False, hours * 3600, "", timeout_ok=True)
        await db_call(controls.trading_pause_set)(paused=True, actor=OPERATOR)
        await _until(
            trader,
            lambda row: row is not None and row[0] == "FLAT" and not row[1].get("orphans"),
            SETTLE_S,
            "the live position out after the pause",
        )
        await trader.stop()
    finally:
        if trader.alive:
            await trader.kill()
    async with KalshiRestClient(settings.KBTC["KALSHI_API_URL"], signer_from_settings()) as rest:
        orders = await rest.list_orders(min_ts=int(since.timestamp()))
    return await db_call(promotion_gates)(since=since, orders=orders)


async def _until(
    trader: Trader,
    condition: Callable[[tuple[str, dict[str, object]] | None], bool],
    limit_s: float,
    what: str,
    *,
    timeout_ok: bool = False,
) -> None:
    deadline = time.monotonic() + limit_s
    while not condition(await db_call(_live_row)()):
        if not trader.alive:
            raise HarnessError(f"run_trader stopped; its log:\n{trader.tail()}")
        if time.monotonic() > deadline:
            if timeout_ok:
                return
            raise HarnessError(
                f"no {what} within {limit_s:g} s; the trader's log:\n{trader.tail()}"
            )
        await asyncio.sleep(5)
