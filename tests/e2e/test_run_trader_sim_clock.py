"""``manage.py run_trader`` against a simulator replaying the past starts at the simulator's
clock (``/sim/clock``), not the wall clock: its warm-up finds the candles before that time.
The simulator runs in this test's loop (stepped: its time stands still); the trader is a real
process on the network feeds."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from kbtc_core.db import db_call
from marketdata.history.backfill import backfill
from marketdata.sim.testing import running_simulator

from .processes import ROOT, current_database_url

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

START = 1_767_225_600_000  # 2026-01-01 00:00 UTC: months before the wall clock


async def test_run_trader_on_a_simulator_in_the_past_warms_up_from_its_clock(tmp_path: Path):
    async with running_simulator(seed=7, start_ms=START) as sim:
        filled = await db_call(backfill)(
            base_url=sim.binance_api_url, start_ms=START - 16 * 3600 * 1000, end_ms=START
        )
        assert filled.fetched == 16 * 60
        key = tmp_path / "key.pem"
        key.write_bytes(sim.private_key_pem)
        key.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KBTC_")}
        env.pop("REDIS_URL", None)
        env.update(
            DATABASE_URL=current_database_url(),
            KBTC_DATA_DIR=str(tmp_path),
            KALSHI_API_URL=sim.kalshi_api_url,
            KALSHI_WS_URL=sim.kalshi_ws_url,
            COINBASE_WS_URL=sim.coinbase_ws_url,
            KALSHI_API_KEY_ID=sim.key_id,
            KALSHI_PRIVATE_KEY_PATH=str(key),
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "manage.py",
            "run_trader",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert process.stdout is not None
        output: list[str] = []
        try:
            async with asyncio.timeout(90):
                while not any("paper trading on the exchange feeds" in line for line in output):
                    line = await process.stdout.readline()
                    assert line, "\n".join(output)
                    output.append(line.decode())
        finally:
            process.terminate()
            rest, _ = await process.communicate()
            output.append(rest.decode())
    text = "".join(output)
    assert f"paper trading on the exchange feeds from {START} " in text, text
    warmup = re.search(r"trader_started.*warmup_candles=(\d+)", text)
    assert warmup is not None, text
    assert int(warmup.group(1)) >= 60  # 16 hours of 15-minute candles before the start
