"""Discord notifications as a sink: the records go to ``trading.notifications``'s
``NotificationSink`` (which never waits), and the runtime's own news with them: the start
and the stop, a feed's socket going down or coming back, the database refusing writes,
an event the session failed on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from marketdata.model.events import Event
from trading.engine.records import LaneStatus
from trading.notifications.sink import NotificationSink
from trading.runtime.session import SessionOutput
from trading.runtime.sinks.base import Sink


class NotificationsRelay(Sink):
    name = "notifications"

    def __init__(
        self,
        notifier: NotificationSink,
        *,
        feeds_health: Callable[[], list[dict[str, Any]]] = list,
        db_state: Callable[[], str] = lambda: "ok",
        watch_every_s: float = 1.0,
    ) -> None:
        self.notifier = notifier
        self.feeds_health = feeds_health
        self.db_state = db_state
        self.watch_every_s = watch_every_s
        self._feed_states: dict[str, str] = {}
        self._db = "ok"

    def start(self, records: Sequence[SessionOutput], *, restored: bool = False) -> None:
        bankrolls = {r.lane: r.bankroll for r in records if isinstance(r, LaneStatus)}
        self.notifier.consume(records, max((r.ts for r in records), default=0))
        self.notifier.trader_started(bankrolls=bankrolls, restored=restored)

    def consume(self, event: Event | None, produced: Sequence[SessionOutput], now: int) -> None:
        for item in produced:
            if isinstance(item, LaneStatus):
                self.notifier.bankrolls[item.lane] = item.bankroll
        self.notifier.consume(produced, now)

    def event_failed(self, event: Event, error: str) -> None:
        self.notifier.event_failed(event.kind, error)

    async def run(self, stop: asyncio.Event) -> None:
        inner = asyncio.Event()
        sending = asyncio.create_task(self.notifier.run(inner))
        try:
            while not stop.is_set():
                self._watch()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.watch_every_s)
            self.notifier.trader_stopped()
        finally:
            inner.set()
            await sending

    def _watch(self) -> None:
        for feed in self.feeds_health():
            name, state = feed.get("name", "?"), str(feed.get("state", ""))
            if self._feed_states.get(name) != state:
                self._feed_states[name] = state
                self.notifier.feed_state_changed(name, state)
        db = self.db_state()
        if db != self._db:
            self._db = db
            if not db.startswith("ok"):
                self.notifier.db_error(db)

    def health(self) -> dict[str, Any]:
        return {
            "notifications_dropped": self.notifier.dropped,
            "notification_errors": self.notifier.errors,
        }
