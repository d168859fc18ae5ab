"""The in-process simulator for tests and the embedded demo (interfaces.md §9).

``async with running_simulator() as sim:`` starts a ``SimExchange`` on an ephemeral
127.0.0.1 port inside the current loop, with a freshly generated RSA key pair registered
under ``sim.key_id``. The clock is **stepped** by default: simulated time stands still until
``await sim.advance(seconds)``, which returns once every event up to the new time has been
handed to the feeds (read the socket to see the frames). Pass ``stepped=False, speed=60`` for
a free-running clock.

Pytest: import ``sim_exchange`` into a conftest (``from marketdata.sim.testing import
sim_exchange``) and take it as a fixture.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest_asyncio

from marketdata.settled import SettledMarkets
from marketdata.sim.auth import KeyRegistry, generate_key_pair, sign_headers
from marketdata.sim.clock import SimClock
from marketdata.sim.faults import FaultConfig
from marketdata.sim.prices import PriceHistory
from marketdata.sim.server import WS_PATH, SimExchange

DEFAULT_START_MS = 1_735_689_600_000 + 7 * 60_000  # 2025-01-01T00:07:00Z, mid-window


@dataclass
class SimHandle:
    exchange: SimExchange
    key_id: str
    private_key_pem: bytes
    public_key_pem: bytes

    @property
    def base_url(self) -> str:
        return self.exchange.base_url

    @property
    def kalshi_api_url(self) -> str:
        return f"{self.base_url}/trade-api/v2"

    @property
    def kalshi_ws_url(self) -> str:
        return f"ws://{self.exchange.host}:{self.exchange.port}{WS_PATH}"

    @property
    def coinbase_ws_url(self) -> str:
        return f"ws://{self.exchange.host}:{self.exchange.port}/coinbase"

    @property
    def binance_api_url(self) -> str:
        return f"{self.base_url}/binance"

    @property
    def clock(self) -> SimClock:
        return self.exchange.clock

    @property
    def faults(self) -> FaultConfig:
        return self.exchange.faults

    def now(self) -> int:
        return self.exchange.released_until

    async def advance(self, seconds: float) -> int:
        return await self.exchange.clock.advance(seconds)

    def set_faults(self, **changes: Any) -> None:
        self.exchange.faults.update(changes)

    def sign(self, method: str, path: str) -> dict[str, str]:
        """Headers for a signed request (``path`` from the root, e.g. ``/trade-api/v2/...``)."""
        return sign_headers(self.private_key_pem, self.key_id, method, path)


@asynccontextmanager
async def running_simulator(
    *,
    seed: int = 1,
    start_ms: int = DEFAULT_START_MS,
    stepped: bool = True,
    speed: float = 1.0,
    history: str | PriceHistory | None = None,
    days: int = 1,
    faults: FaultConfig | None = None,
    ping_interval_s: float = 10.0,
    opening_balance_cents: int = 100_000,
    settled: SettledMarkets | None = None,
    spread: str = "real",
    historical_days: float | None = None,
) -> AsyncIterator[SimHandle]:
    private, public = generate_key_pair()
    key_id = str(uuid.uuid4())
    keys = KeyRegistry()
    keys.register(key_id, public)
    exchange = SimExchange(
        seed=seed,
        start_ms=start_ms,
        speed=speed,
        stepped=stepped,
        history=history,
        days=days,
        faults=faults,
        keys=keys,
        ping_interval_s=ping_interval_s,
        opening_balance_cents=opening_balance_cents,
        settled=settled,
        spread=spread,
        historical_days=historical_days,
    )
    await exchange.start()
    try:
        yield SimHandle(exchange, key_id, private, public)
    finally:
        await exchange.stop()


@pytest_asyncio.fixture
async def sim_exchange() -> AsyncIterator[SimHandle]:
    async with running_simulator() as handle:
        yield handle
