"""The sink interface (see the package's docstring)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from marketdata.model.events import Event
from trading.runtime.session import SessionOutput


class Sink:
    """A consumer of the session's outputs. ``consume`` runs on the hot path: it must
    return at once (queue, never wait). The rest is optional."""

    name = "sink"

    def consume(self, event: Event | None, produced: Sequence[SessionOutput], now: int) -> None:
        """``produced`` came of ``event`` (None: of an operator control or the start);
        ``now`` is the session's event time after it."""

    def start(self, records: Sequence[SessionOutput], *, restored: bool = False) -> None:
        """The session's state at the start (``Session.start``), before any event: the
        lanes' status and the positions held (``restored``: of a saved session). Nothing
        new happened: no row to write."""

    def event_failed(self, event: Event, error: str) -> None:
        """The session raised on ``event`` (the daemon logged it and skipped it)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Background work until ``stop`` is set (after the feeds and the final save)."""

    async def close(self) -> None:
        """After ``run`` ended: flush what is left, bounded in time."""

    def health(self) -> dict[str, Any]:
        """What the health topic should show of this sink ({} when nothing)."""
        return {}


class Observer(Sink):
    """Hands every event and what came of it to ``watch``: the tests and the latency
    benchmark look at the session's outputs here."""

    name = "observer"

    def __init__(self, watch: Callable[[Event | None, Sequence[SessionOutput]], None]) -> None:
        self.watch = watch

    def consume(self, event: Event | None, produced: Sequence[SessionOutput], now: int) -> None:
        self.watch(event, produced)
