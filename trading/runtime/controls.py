"""How the daemon hears about operator controls (interfaces.md §8).

Controls are written through services (one transaction and an audit row), then announced
on the channel layer. ``ControlsWatch`` re-reads them from the database at least every
``poll_s`` and at once on an announcement, so a lost message delays a control by a second,
never loses it. Each read goes to ``apply``, on the loop between two events; what a control
does to the session is the daemon's business. A failed read (the database away) is logged
and retried at the next poll: trading goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from kbtc_core.db import db_call
from trading import push, selectors

log = structlog.get_logger(__name__)

JOIN_TIMEOUT_S = 5.0


class ControlsWatch:
    def __init__(
        self, apply: Callable[[selectors.ControlsSnapshot], None], *, poll_s: float = 1.0
    ) -> None:
        self.apply = apply
        self.poll_s = poll_s
        self.wakeup = asyncio.Event()

    async def poll(self, stop: asyncio.Event) -> None:
        read = db_call(selectors.controls_current)
        while not stop.is_set():
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), self.poll_s)
            if stop.is_set():
                return
            try:
                controls = await read()
            except Exception as exc:  # the database may be away: keep trading, retry
                log.warning("controls_read_failed", error=str(exc).strip())
                continue
            self.apply(controls)

    async def listen(self, stop: asyncio.Event) -> None:
        """Wake the poll when the web side announces a change."""
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is None:
            return
        channel = ""
        try:
            while not stop.is_set():
                try:
                    if not channel:  # (re)join: Redis may be away at start or drop us
                        joining = await layer.new_channel()
                        # bounded: a Redis that accepts and never answers must not hold
                        # the stop (the daemon's task group waits for this task)
                        try:
                            join = layer.group_add(push.CONTROLS_GROUP, joining)
                            await asyncio.wait_for(join, JOIN_TIMEOUT_S)
                        except TimeoutError as exc:
                            raise ConnectionError(
                                f"joining {push.CONTROLS_GROUP} timed out after {JOIN_TIMEOUT_S} s"
                            ) from exc
                        channel = joining
                    await asyncio.wait_for(layer.receive(channel), 1.0)
                except TimeoutError:
                    continue
                except Exception as exc:  # the layer may be away: the 1 s poll still runs
                    log.warning("controls_listen_failed", error=str(exc).strip())
                    channel = ""
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 1.0)
                    continue
                self.wakeup.set()
        finally:
            if channel:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(layer.group_discard(push.CONTROLS_GROUP, channel), 2.0)
