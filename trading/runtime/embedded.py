"""The simulator's side of the wiring: the embedded demo's exchange, and a daemon on the
in-process simulator stream (``run_trader --sim-stream``, tests). Only this module (and
the tests) import the simulator; production wiring is ``trading.runtime.factory``.

``start_embedded_exchange`` is the embedded profile's half (interfaces.md §7): a
``SimExchange`` on an ephemeral 127.0.0.1 port, a throwaway key pair registered there, the
endpoints that point at it (wall-clock ticks off: its clock is simulated), and the candles
table back-filled from its Binance endpoint, so the same ``build_network_daemon`` runs
against it, given those endpoints (the settings are never rewritten).

The simulated clock starts where the saved session stopped (so a restart continues the
market it left), else at the default start: 2026-01-01T00:00Z on the seeded synthetic path,
or, when ``KBTC_HISTORY`` is set, inside the file (its last week).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from django.conf import settings

from kbtc_core.db import db_call
from marketdata.history.backfill import backfill
from marketdata.history.klines import last_open_ms
from marketdata.kalshi.signing import KalshiSigner
from marketdata.recorder import Recorder
from trading import selectors
from trading.runtime.daemon import Daemon, DaemonConfig
from trading.runtime.factory import ExchangeEndpoints, build_daemon
from trading.runtime.warmup import table_candles

if TYPE_CHECKING:
    from marketdata.sim.server import SimExchange

log = structlog.get_logger(__name__)

SIM_MINUTES = 7 * 24 * 60  # how far ahead the simulated market can run
DEMO_DAYS = 7  # with history: the demo replays the file's last week
# Without history: a fixed start, so every demo (and the README's figures) sees the same
# seeded market: the path the e2e tests trade on (the synthetic path depends on the start).
SYNTHETIC_START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
BACKFILL_MS = 30 * 3600 * 1000  # warm-up reads 15 h of 15-minute candles; a restart, 12 h more


def _saved_now() -> int | None:
    state = selectors.bot_state_get(lane="paper")
    snapshot = state.engine_snapshot if state is not None else None
    return snapshot["engine"]["now"] if snapshot else None


def default_start(history_path: Any) -> int:
    if history_path:
        # the file's last week, with a week of history before it for the warm-up; seven
        # minutes into a window, like the tests' default start
        last = last_open_ms(history_path)
        return last - DEMO_DAYS * 86_400_000 - last % 900_000 + 7 * 60_000
    return SYNTHETIC_START


async def build_sim_daemon(
    *, speed: float | None = None, start_ms: int | None = None, latency_ms: int = 200
) -> Daemon:
    # The simulator is imported here, not at the top: run_trader on the real exchanges
    # imports this module and must not load it.
    from marketdata.settled_backfill import settled_source
    from marketdata.sim.core import SimCore
    from marketdata.sim.prices import history_candles
    from marketdata.sim.stream import history_for
    from trading.runtime.feeds import sim_stream_feed

    kbtc = settings.KBTC
    seed = kbtc["SIM_SEED"]
    history_path = kbtc["HISTORY"]
    saved = await db_call(_saved_now)()
    if start_ms is None:
        start_ms = (saved // 1000 + 1) * 1000 if saved else default_start(history_path)
    history = history_for(
        seed, start_ms, SIM_MINUTES // 7, str(history_path) if history_path else None
    )
    core = SimCore(
        seed=seed,
        start_ts=start_ms,
        history=history,
        settled=await db_call(settled_source)(kbtc["SETTLED"]),
        spread=kbtc["SIM_SPREAD"],
    )

    def candles(before_ts: int) -> list[Any]:
        stored = table_candles(before_ts, count=60)
        return stored if len(stored) >= 20 else history_candles(history, before_ts, count=60)

    daemon = build_daemon(
        DaemonConfig(latency_ms=latency_ms),
        feeds=[sim_stream_feed(core, speed=speed or kbtc["SIM_SPEED"])],
        candles=candles,
        recorder=Recorder(label="run_trader"),
        start_ts=start_ms,
    )
    await daemon.prepare()
    return daemon


@dataclass
class EmbeddedExchange:
    exchange: SimExchange
    endpoints: ExchangeEndpoints
    start_ms: int
    backfilled: int


async def start_embedded_exchange(*, speed: float | None = None) -> EmbeddedExchange:
    """The embedded profile's simulator, started in this loop, and the endpoints to it."""
    from marketdata.settled_backfill import settled_source
    from marketdata.sim.auth import KeyRegistry, generate_key_pair
    from marketdata.sim.server import WS_PATH, SimExchange

    kbtc = settings.KBTC
    history_path = kbtc["HISTORY"]
    saved = await db_call(_saved_now)()
    start_ms = (saved // 1000 + 1) * 1000 if saved else default_start(history_path)
    private, public = generate_key_pair()
    key_id = f"embedded-{uuid.uuid4()}"
    keys = KeyRegistry()
    keys.register(key_id, public)
    exchange = SimExchange(
        seed=kbtc["SIM_SEED"],
        start_ms=start_ms,
        speed=speed or kbtc["SIM_SPEED"],
        history=str(history_path) if history_path else None,
        days=DEMO_DAYS,
        keys=keys,
        settled=await db_call(settled_source)(kbtc["SETTLED"]),
        spread=kbtc["SIM_SPREAD"],
    )
    await exchange.start()
    base = exchange.base_url
    ws_base = f"ws://{exchange.host}:{exchange.port}"
    endpoints = ExchangeEndpoints(
        kalshi_api_url=f"{base}/trade-api/v2",
        kalshi_ws_url=f"{ws_base}{WS_PATH}",
        coinbase_ws_url=f"{ws_base}/coinbase",
        signer=KalshiSigner.from_pem(key_id, private),
        # Its heartbeats carry simulated time: a wall-clock tick would jump the market.
        wall_clock_ticks=False,
    )
    try:
        result = await db_call(backfill)(
            base_url=f"{base}/binance", start_ms=start_ms - BACKFILL_MS, end_ms=start_ms
        )
    except Exception:
        await exchange.stop()
        raise
    log.info(
        "embedded_exchange_started",
        url=base,
        start_ms=start_ms,
        speed=exchange.clock.speed,
        history=str(history_path) if history_path else "synthetic",
        backfilled=result.fetched,
    )
    return EmbeddedExchange(exchange, endpoints, start_ms, result.fetched)
