"""Assemble a daemon: on the network feeds (``run_trader``, the embedded demo) or on the
in-process simulator stream (``run_trader --sim-stream``, tests).

``build_network_daemon`` reads the exchange settings (``KALSHI_API_URL``, ``KALSHI_WS_URL``,
``COINBASE_WS_URL``, ``KALSHI_API_KEY_ID``, ``KALSHI_PRIVATE_KEY_PATH``) and warms up from the
candles table (the back-fill command and the recorder fill it); ``WALL_CLOCK_TICKS`` turns
on its wall-clock ticks in quiet spells. ``start_embedded_exchange`` is the embedded
profile's half (interfaces.md §7): a ``SimExchange`` on an ephemeral 127.0.0.1 port, a
throwaway key pair registered there, the settings pointed at it (wall-clock ticks off), and
the table back-filled from its Binance endpoint, so the same ``build_network_daemon`` runs.

The simulated clock starts where the saved session stopped (so a restart continues the
market it left), else at the default start: 2026-01-01T00:00Z on the seeded synthetic path,
or, when ``KBTC_HISTORY`` is set, inside the file (its last week).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from django.conf import settings

from kbtc_site.db import db_call
from marketdata.history.backfill import backfill
from marketdata.kalshi.config import signer_from_settings
from marketdata.recorder import Recorder
from marketdata.settled_backfill import settled_source
from marketdata.sim.auth import KeyRegistry, generate_key_pair
from marketdata.sim.core import SimCore
from marketdata.sim.server import WS_PATH, SimExchange
from marketdata.sim.stream import history_for
from trading import selectors
from trading.runtime.daemon import Daemon, DaemonConfig
from trading.runtime.feeds import sim_stream_feed
from trading.runtime.network import NetworkFeed, held_positions
from trading.runtime.warmup import history_candles, table_candles

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


def history_last_ts(path: Any) -> int:
    """Open time (ms) of the last bar of a kline CSV (plain, .gz, .bz2, .xz), streamed."""
    import bz2
    import gzip
    import lzma

    path = Path(path).expanduser()
    opener = {".xz": lzma.open, ".lzma": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}
    last = ""
    with opener.get(path.suffix, open)(path, "rt") as lines:  # type: ignore[operator]
        for line in lines:
            if line[:1].isdigit():
                last = line
    stamp = last.partition(",")[0]
    if not stamp:
        raise ValueError(f"{path}: no kline rows")
    if stamp.isdigit():
        value = int(stamp)
        return value // 1000 if value > 10**14 else value  # microseconds in newer files
    when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return int(when.replace(tzinfo=when.tzinfo or dt.UTC).timestamp() * 1000)


def default_start(history_path: Any) -> int:
    if history_path:
        # the file's last week, with a week of history before it for the warm-up; seven
        # minutes into a window, like the tests' default start
        last = history_last_ts(history_path)
        return last - DEMO_DAYS * 86_400_000 - last % 900_000 + 7 * 60_000
    return SYNTHETIC_START


async def build_sim_daemon(
    *, speed: float | None = None, start_ms: int | None = None, latency_ms: int = 200
) -> Daemon:
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

    daemon = Daemon(
        DaemonConfig(latency_ms=latency_ms),
        feeds=[sim_stream_feed(core, speed=speed or kbtc["SIM_SPEED"])],
        candles=candles,
        recorder=Recorder(label="run_trader"),
        start_ts=start_ms,
    )
    await daemon.prepare()
    return daemon


# --- the network feeds ------------------------------------------------------------------


def _table_warmup(before_ts: int) -> list[Any]:
    candles = table_candles(before_ts, count=60)
    if len(candles) < 20:
        log.warning(
            "warmup_candles_missing",
            found=len(candles),
            before_ts=before_ts,
            hint="run manage.py backfill_klines for the day before the start",
        )
    return candles


async def build_network_daemon(
    *,
    start_ms: int | None = None,
    latency_ms: int = 200,
    refresh_s: float = 60.0,
    recorder: bool = True,
) -> Daemon:
    """The daemon on the exchange clients, configured from ``settings.KBTC``."""
    kbtc = settings.KBTC
    signer = signer_from_settings()
    feed = NetworkFeed(
        kalshi_api_url=kbtc["KALSHI_API_URL"],
        kalshi_ws_url=kbtc["KALSHI_WS_URL"],
        coinbase_ws_url=kbtc["COINBASE_WS_URL"],
        signer=signer,
        series_ticker=kbtc["SERIES_TICKER"],
        refresh_s=refresh_s,
        wall_clock_ticks=kbtc["WALL_CLOCK_TICKS"],
    )
    if start_ms is None:
        start_ms = int(time.time() * 1000)
    daemon = Daemon(
        DaemonConfig(latency_ms=latency_ms),
        feeds=[feed],
        candles=_table_warmup,
        recorder=Recorder(label="run_trader") if recorder else None,
        start_ts=start_ms,
    )
    feed.positions = held_positions(daemon)
    await daemon.prepare()
    return daemon


@dataclass
class EmbeddedExchange:
    exchange: SimExchange
    key_id: str
    start_ms: int
    backfilled: int


async def start_embedded_exchange(*, speed: float | None = None) -> EmbeddedExchange:
    """The embedded profile's simulator: started in this loop, settings pointed at it."""
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
    key_path = Path(kbtc["DATA_DIR"]) / "embedded_sim_key.pem"  # throwaway, this run only
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.touch(mode=0o600)
    key_path.chmod(0o600)
    key_path.write_bytes(private)
    base = exchange.base_url
    ws_base = f"ws://{exchange.host}:{exchange.port}"
    kbtc.update(
        {
            "KALSHI_API_URL": f"{base}/trade-api/v2",
            "KALSHI_WS_URL": f"{ws_base}{WS_PATH}",
            "COINBASE_WS_URL": f"{ws_base}/coinbase",
            "BINANCE_API_URL": f"{base}/binance",
            "KALSHI_API_KEY_ID": key_id,
            "KALSHI_PRIVATE_KEY_PATH": key_path,
            # Its heartbeats carry simulated time: a wall-clock tick would jump the market.
            "WALL_CLOCK_TICKS": False,
        }
    )
    try:
        result = await db_call(backfill)(
            base_url=kbtc["BINANCE_API_URL"],
            start_ms=start_ms - BACKFILL_MS,
            end_ms=start_ms,
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
    return EmbeddedExchange(exchange, key_id, start_ms, result.fetched)
