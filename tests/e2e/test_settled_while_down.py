"""``run_trader`` killed (SIGKILL) while it holds a position, the contract finalized while it
is down: after the restart it asks the exchange what became of the held contract, settles
the position at the result within a few simulated seconds and trades on (issue #15,
point 1: it used to hold the position forever and stop trading). The simulator runs in
this test's loop on a stepped clock; the trader is a real process on the network feeds."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from kbtc_core.db import db_call
from marketdata.history.backfill import backfill
from marketdata.sim.testing import SimHandle, running_simulator
from trading.models import Decision, OpenPosition, Trade

from .processes import ROOT, current_database_url

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

START = 1_767_225_600_000  # 2026-01-01 00:00 UTC: seed 7 enters within the first hour
STEP_S = 2


def _env(sim: SimHandle, tmp_path: Path) -> dict[str, str]:
    key = tmp_path / "key.pem"
    key.write_bytes(sim.private_key_pem)
    key.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBTC_")}
    env.pop("REDIS_URL", None)
    env.update(
        DATABASE_URL=current_database_url(),
        KBTC_DATA_DIR=str(tmp_path),
        KBTC_HEARTBEAT_STALE_S="60",
        KALSHI_API_URL=sim.kalshi_api_url,
        KALSHI_WS_URL=sim.kalshi_ws_url,
        COINBASE_WS_URL=sim.coinbase_ws_url,
        KALSHI_API_KEY_ID=sim.key_id,
        KALSHI_PRIVATE_KEY_PATH=str(key),
    )
    return env


async def _trader(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "manage.py",
        "run_trader",
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=asyncio.subprocess.STDOUT,
    )


async def _step_until(sim: SimHandle, found: Any, limit_s: int, what: str) -> Any:
    """Advance the market STEP_S at a time (giving the trader a moment to keep up) until
    ``found()`` returns something."""
    for _ in range(limit_s // STEP_S):
        await sim.advance(STEP_S)
        await asyncio.sleep(0.05)
        result = await db_call(found)()
        if result:
            return result
    raise AssertionError(f"{what}: not within {limit_s} simulated seconds")


async def test_a_contract_settled_while_the_trader_was_down_settles_at_the_restart(
    tmp_path: Path,
) -> None:
    async with running_simulator(seed=7, start_ms=START, days=1) as sim:
        await db_call(backfill)(
            base_url=sim.binance_api_url, start_ms=START - 16 * 3600 * 1000, end_ms=START
        )
        env = _env(sim, tmp_path)
        first = await _trader(env, tmp_path / "first.log")
        try:
            await asyncio.sleep(5)  # connects and subscribes at the simulator's start
            held = await _step_until(
                sim, lambda: OpenPosition.objects.first(), 4 * 3600, "an entry"
            )
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        uid, ticker = held.position_uid, held.ticker
        killed_at = sim.now()

        # While the trader is down the contract closes and is finalized.
        async with httpx.AsyncClient(base_url=sim.kalshi_api_url) as rest:

            async def market() -> dict[str, Any]:
                answer = await rest.get(f"/markets/{ticker}")
                answer.raise_for_status()
                body: dict[str, Any] = answer.json()["market"]
                return body

            for _ in range(40 * 60 // 30):
                if (await market())["status"] == "finalized":
                    break
                await sim.advance(30)
            settled = await market()
        assert settled["status"] == "finalized", settled
        assert not await db_call(lambda: Trade.objects.filter(position_uid=uid).exists())()

        second = await _trader(env, tmp_path / "second.log")
        try:
            await asyncio.sleep(5)
            restarted_at = sim.now()
            trade = await _step_until(
                sim, lambda: Trade.objects.filter(position_uid=uid).first(), 60, "the settlement"
            )
            # ... and it trades on: new decisions after the restart
            await _step_until(
                sim,
                lambda: Decision.objects.filter(ts__gt=_dt(restarted_at + 60_000)).exists(),
                600,
                "a decision after the restart",
            )
        finally:
            second.send_signal(signal.SIGTERM)
            await asyncio.wait_for(second.wait(), 60)
    output = (tmp_path / "second.log").read_text()
    assert "(restored: True)" in output, output[-3000:]
    assert "Traceback" not in output, output[-4000:]
    assert trade.exit_reason == "CONTRACT_SETTLED"
    won = (settled["result"] == "yes") == (held.direction == "long")
    assert (trade.pnl > 0) == won  # paid out at $1 on a win, nothing on a loss
    assert trade.closed_at > _dt(killed_at)
    assert not await db_call(lambda: OpenPosition.objects.filter(position_uid=uid).exists())()


def _dt(ms: int) -> Any:
    from trading.services.trades import ms_to_datetime

    return ms_to_datetime(ms)
