"""The reconnecting WebSocket loop shared by the Kalshi and Coinbase feed adapters.

A feed connects, subscribes, reads frames and turns them into events until it is stopped.
Whatever goes wrong (a refused handshake, a reset, a silent peer), it backs off with jitter
and connects again; subclasses resubscribe in ``on_connected``. Liveness is a subclass
decision: Kalshi's protocol pings (a quiet market sends no data for minutes, so silence
proves nothing) or Coinbase's heartbeat frames. ``recv_ts`` is taken right after the socket
read, before any parsing, because latency is measured from there (interfaces.md §10).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidURI, WebSocketException
from websockets.frames import Frame, Opcode

from marketdata.model.events import Event, EventSink
from marketdata.model.units import WireFormatError
from marketdata.ratelimit import Backoff

log = structlog.get_logger(__name__)

MAX_LOGGED_FRAME = 300


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class FeedStats:
    """Counters for the health panel; ``as_dict`` is plain JSON."""

    feed: str
    state: str = "idle"  # idle | connecting | connected | reconnecting | stopped
    connects: int = 0
    reconnects: int = 0
    messages: int = 0
    events: int = 0
    malformed: int = 0
    malformed_reasons: Counter[str] = field(default_factory=Counter)
    ignored: int = 0
    seq_gaps: int = 0
    resnapshots: int = 0
    liveness_timeouts: int = 0
    handler_errors: int = 0
    exchange_errors: int = 0
    last_message_ms: int | None = None
    last_alive_ms: int | None = None
    connected_since_ms: int | None = None
    last_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["malformed_reasons"] = dict(self.malformed_reasons)
        return data


class PingAwareConnection(ClientConnection):
    """A client connection that reports every protocol Ping it receives.

    websockets answers pings itself and exposes no hook, so this is the one place a Ping
    frame is visible; the library still sends the Pong.
    """

    on_ping: Callable[[], None] | None = None

    def process_event(self, event: Any) -> None:
        if isinstance(event, Frame) and event.opcode is Opcode.PING and self.on_ping:
            self.on_ping()
        super().process_event(event)


class ReconnectingFeed:
    """Base class: the connect / read / watchdog / backoff loop. Subclasses implement
    ``handshake_headers``, ``on_connected`` and ``handle_frame``."""

    feed_name = "feed"

    def __init__(
        self,
        url: str,
        on_event: EventSink,
        *,
        liveness_timeout_s: float,
        backoff: Backoff | None = None,
        clock_ms: Callable[[], int] = wall_ms,
        client_ping_interval_s: float | None = 20.0,
        open_timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.on_event = on_event
        self.liveness_timeout_s = liveness_timeout_s
        self.backoff = backoff or Backoff(base_s=0.5, cap_s=60.0, floor_s=0.05)
        self.clock_ms = clock_ms
        self.client_ping_interval_s = client_ping_interval_s
        self.open_timeout_s = open_timeout_s
        self.stats = FeedStats(feed=self.feed_name)
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._kick = asyncio.Event()
        self._kick_reason = ""
        self._alive_at = 0.0  # loop time of the last liveness signal
        self._connected = asyncio.Event()

    # --- subclass hooks ------------------------------------------------------------------

    def handshake_headers(self) -> dict[str, str]:
        return {}

    async def on_connected(self) -> None:
        """Queue the subscriptions (``self.send``); called with a fresh connection."""

    def handle_frame(self, frame: Any, recv_ts: int) -> None:
        """Route one decoded JSON frame; raise ``WireFormatError`` (or Key/Type/ValueError)
        for a malformed one."""
        raise NotImplementedError

    def session_tasks(self) -> list[Coroutine[Any, Any, None]]:
        """Extra coroutines to run for the life of one connection."""
        return []

    # --- helpers for subclasses ----------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        self._outbox.put_nowait(message)

    def mark_alive(self) -> None:
        self._alive_at = time.monotonic()
        self.stats.last_alive_ms = self.clock_ms()

    def reconnect(self, reason: str) -> None:
        """Drop the connection and start over (resubscribing); safe from sync handlers."""
        if not self._kick.is_set():
            self._kick_reason = reason
            self._kick.set()

    def emit(self, event: Event) -> None:
        self.stats.events += 1
        try:
            self.on_event(event)
        except Exception:
            # The consumer's bug must not take the feed down with it; it is loud in the log
            # and counted on the health panel.
            self.stats.handler_errors += 1
            log.exception("feed_handler_error", feed=self.feed_name, kind=event.kind)

    def malformed(self, reason: str, raw: str | bytes) -> None:
        self.stats.malformed += 1
        key = reason.split(":", 1)[0][:60]
        self.stats.malformed_reasons[key] += 1
        shown = raw if isinstance(raw, str) else repr(raw)
        log.warning(
            "feed_malformed_frame",
            feed=self.feed_name,
            reason=reason,
            frame=shown[:MAX_LOGGED_FRAME],
        )

    @property
    def connected(self) -> bool:
        return self.stats.state == "connected"

    async def wait_connected(self) -> None:
        await self._connected.wait()

    # --- the loop ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Connect and read until ``stop`` is set, reconnecting with jittered backoff."""
        try:
            while not stop.is_set():
                self.stats.state = "connecting" if self.stats.connects == 0 else "reconnecting"
                try:
                    await self._connect_once(stop)
                except InvalidURI:
                    raise  # configuration, not weather: retrying cannot help
                except (OSError, TimeoutError, WebSocketException) as exc:
                    self.stats.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning(
                        "feed_disconnected", feed=self.feed_name, error=self.stats.last_error
                    )
                except Exception as exc:
                    # A bug of ours must not silence the feed for good: loud, counted, retried.
                    self.stats.last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("feed_failed", feed=self.feed_name)
                if stop.is_set():
                    break
                self.stats.reconnects += 1
                self.stats.state = "reconnecting"
                delay = self.backoff.next_delay()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
        finally:
            self.stats.state = "stopped"
            self._connected.clear()

    async def _connect_once(self, stop: asyncio.Event) -> None:
        async with connect(
            self.url,
            additional_headers=self.handshake_headers(),
            create_connection=PingAwareConnection,
            ping_interval=self.client_ping_interval_s,
            ping_timeout=self.client_ping_interval_s,
            open_timeout=self.open_timeout_s,
            max_size=2**22,
            max_queue=1024,
        ) as ws:
            assert isinstance(ws, PingAwareConnection)
            ws.on_ping = self.mark_alive
            await self._session(ws, stop)

    async def _session(self, ws: PingAwareConnection, stop: asyncio.Event) -> None:
        self._outbox = asyncio.Queue()
        self._kick.clear()
        self.stats.connects += 1
        self.stats.state = "connected"
        self.stats.connected_since_ms = self.clock_ms()
        self.mark_alive()
        self._connected.set()
        log.info("feed_connected", feed=self.feed_name, url=self.url)
        try:
            await self.on_connected()
            tasks = [
                asyncio.create_task(self._read(ws)),
                asyncio.create_task(self._write(ws)),
                asyncio.create_task(self._watchdog()),
                asyncio.create_task(stop.wait()),
                asyncio.create_task(self._kick.wait()),
                *(asyncio.create_task(coro) for coro in self.session_tasks()),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            if self._kick.is_set():
                self.stats.last_error = self._kick_reason
                log.warning("feed_reconnecting", feed=self.feed_name, reason=self._kick_reason)
        finally:
            self._connected.clear()

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            recv_ts = self.clock_ms()  # stamped before parsing: latency starts here
            self.stats.messages += 1
            self.stats.last_message_ms = recv_ts
            if self.backoff.attempt:
                self.backoff.reset()
            self.dispatch(raw, recv_ts)
        raise ConnectionClosed(ws.protocol.close_rcvd, ws.protocol.close_sent)

    def dispatch(self, raw: str | bytes, recv_ts: int) -> None:
        """Decode and route one frame; a malformed one is counted and logged, never raised."""
        try:
            frame = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            self.malformed(f"bad json: {exc}", raw)
            return
        if not isinstance(frame, dict):
            self.malformed(f"not an object: {type(frame).__name__}", raw)
            return
        try:
            self.handle_frame(frame, recv_ts)
        except WireFormatError as exc:
            self.malformed(str(exc), raw)
        except (
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
            OverflowError,
            RecursionError,
        ) as exc:
            self.malformed(f"{type(exc).__name__}: {exc}", raw)

    async def _write(self, ws: ClientConnection) -> None:
        while True:
            message = await self._outbox.get()
            await ws.send(json.dumps(message))

    async def _watchdog(self) -> None:
        check = max(0.02, min(1.0, self.liveness_timeout_s / 4))
        while True:
            await asyncio.sleep(check)
            silent = time.monotonic() - self._alive_at
            if silent > self.liveness_timeout_s:
                self.stats.liveness_timeouts += 1
                self.reconnect(f"no liveness signal for {silent:.1f}s")
                return
