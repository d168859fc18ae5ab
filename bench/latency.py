"""Hot-path latency: from the client's socket read of a frame to the engine's decision on
its event, in the daemon against the simulator on loopback (interfaces.md §10; target
p99 ≤ 2 ms).

The simulator (``SimExchange``, stepped clock, fixed seed and start) serves Kalshi and
Coinbase over 127.0.0.1; the daemon runs whole (network feed: both WS clients and the REST
market lists; session: engine + paper venue; recorder, persistence writer, controls,
heartbeat and publishing) on a throwaway database (``bench_<name>``, dropped after).

Clock: the clients' ``clock_ms`` is the one that stamps ``recv_ts`` right after the socket
read; here it also keeps ``time.perf_counter_ns()`` of that call. Each frame's events are
timed from that stamp to the return of ``Daemon.on_event`` (parsing, the feed's bookkeeping,
the session, the engine's decision, the venue, queueing the writes), on the same counter.
Status events the feed makes from a REST list have no socket read and are not timed.
``stream_sha256`` is over the simulator's stream for the same seed, start and length (the
work offered; the two sockets' interleaving is the network's).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import django

SEED = 20260101
START_TS = 1_767_225_600_000 + 7 * 60_000  # 2026-01-01T00:07:00Z, mid-window
MINUTES = 120
SMOKE_MINUTES = 10
STEP_S = 10
DEBUG = bool(__import__("os").environ.get("KBTC_BENCH_DEBUG"))


def _percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


async def _measure(minutes: int) -> tuple[list[int], float, int]:
    from asgiref.sync import sync_to_async
    from django.db import connections

    from marketdata.coinbase.ws import CoinbaseWsClient
    from marketdata.kalshi.signing import KalshiSigner
    from marketdata.kalshi.ws import KalshiWsClient
    from marketdata.model.events import Event, EventSink
    from marketdata.recorder import Recorder
    from marketdata.sim.prices import history_candles
    from marketdata.sim.testing import running_simulator
    from trading.runtime.daemon import DaemonConfig
    from trading.runtime.factory import build_daemon
    from trading.runtime.network import NetworkFeed

    latencies: list[int] = []
    kinds: list[str] = []
    current: list[int | None] = [None]  # the read stamp of the frame being dispatched

    class StampClock:
        def __init__(self) -> None:
            self.last_ns = 0

        def __call__(self) -> int:
            self.last_ns = time.perf_counter_ns()
            return time.time_ns() // 1_000_000

    class TimedCoinbase(CoinbaseWsClient):
        def dispatch(self, raw: str | bytes, recv_ts: int) -> None:
            current[0] = self.clock_ms.last_ns  # type: ignore[attr-defined]
            try:
                super().dispatch(raw, recv_ts)
            finally:
                current[0] = None

    class TimedKalshi(KalshiWsClient):
        def dispatch(self, raw: str | bytes, recv_ts: int) -> None:
            current[0] = self.clock_ms.last_ns  # type: ignore[attr-defined]
            try:
                super().dispatch(raw, recv_ts)
            finally:
                current[0] = None

    class TimedFeed(NetworkFeed):
        def make_coinbase(self, on_event: EventSink) -> CoinbaseWsClient:
            return TimedCoinbase(self.coinbase_ws_url, on_event, clock_ms=StampClock())

        def make_kalshi(self, on_event: EventSink) -> KalshiWsClient:
            return TimedKalshi(
                self.kalshi_ws_url,
                self.signer,
                on_event,
                account_channels=(),
                clock_ms=StampClock(),
                event_time_fallback=self.now,
            )

        async def __call__(self, sink: EventSink, stop: asyncio.Event) -> None:
            def timed(event: Event) -> None:
                sink(event)
                read = current[0]
                if read is not None:
                    latencies.append(time.perf_counter_ns() - read)
                    if DEBUG:
                        kinds.append(event.kind)

            await super().__call__(timed, stop)

    async with running_simulator(seed=SEED, start_ms=START_TS, days=1) as sim:
        history = sim.exchange.core.path.history
        feed = TimedFeed(
            kalshi_api_url=sim.kalshi_api_url,
            kalshi_ws_url=sim.kalshi_ws_url,
            coinbase_ws_url=sim.coinbase_ws_url,
            signer=KalshiSigner.from_pem(sim.key_id, sim.private_key_pem),
            refresh_s=1.0,
        )
        daemon = build_daemon(
            DaemonConfig(),
            feeds=[feed],
            candles=lambda before: history_candles(history, before, count=60),
            recorder=Recorder(label="bench-latency"),
            start_ts=START_TS,
        )
        await daemon.prepare()
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        deadline = time.monotonic() + 10
        while not (feed.kalshi and feed.kalshi.valid_books):
            if time.monotonic() > deadline:
                raise SystemExit("latency bench: the Kalshi feed never delivered a book")
            await asyncio.sleep(0.01)
        kinds.clear()
        latencies.clear()  # the connection's first frames (subscription snapshots) aside
        started = time.perf_counter()
        for _ in range(minutes * 60 // STEP_S):
            target = await sim.advance(STEP_S)
            while (feed.latest_ts or 0) < target - 1000:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
        seconds = time.perf_counter() - started
        stop.set()
        await task
        errors = daemon.errors + sum(f["handler_errors"] for f in feed.health())
        await sync_to_async(connections.close_all)()
    if DEBUG:
        slow = sorted(zip(latencies, kinds, range(len(kinds)), strict=True), reverse=True)[:40]
        print([(round(ns / 1e6, 2), kind, index) for ns, kind, index in slow])
    return latencies, seconds, errors


def run(*, smoke: bool) -> dict[str, Any]:
    django.setup()
    from django.db import connection, connections

    from marketdata.sim.stream import generate_events, stream_sha256

    minutes = SMOKE_MINUTES if smoke else MINUTES
    digest, count = stream_sha256(generate_events(SEED, START_TS, minutes))
    settings_dict = connection.settings_dict
    configured_name = settings_dict["NAME"]
    settings_dict["TEST"] = {
        **settings_dict.get("TEST", {}),
        "NAME": f"bench_{settings_dict['NAME']}",
    }
    if connection.vendor == "sqlite":
        settings_dict["TEST"]["NAME"] = ":memory:"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        latencies, seconds, errors = asyncio.run(_measure(minutes))
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(configured_name, verbosity=0)
    if not latencies or errors:
        raise SystemExit(f"latency bench: {len(latencies)} timed events, {errors} errors")
    return {
        "events": len(latencies),
        "seconds": round(seconds, 4),
        "stream_sha256": digest,
        "stream_events": count,
        "p50_ms": round(_percentile(latencies, 0.50), 4),
        "p99_ms": round(_percentile(latencies, 0.99), 4),
        "max_ms": round(max(latencies) / 1e6, 4),
        "mean_ms": round(statistics.fmean(latencies) / 1e6, 4),
        "minutes": minutes,
    }
