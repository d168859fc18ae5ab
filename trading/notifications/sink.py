"""The trader's notification sink: engine records and runtime events → Discord posts.

The trading loop only appends to an in-memory queue here (``consume`` and the runtime
methods never wait on anything): a thread of the sink's own hands each post to the Celery
task (``tasks.post_notification``), whose ``delay`` talks to Redis in the server profile
and, in the embedded profile (Celery eager), makes the HTTP post with all its retries in
that thread. A webhook that hangs, or a Redis that does, holds that thread, never the loop;
past ``queue_max`` waiting posts the oldest are dropped (counted in ``dropped``, logged).

What it decides itself, on the loop's thread:

- bursts: a flapping feed, a repeated database error, a sizing failure or regime change
  repeated within ``burst_interval_s`` (wall time) posts once, then once more at the end of
  the interval with the latest state and how many were held back;
- time-based posts follow the trading clock (``now_ms``), as the original's did the wall
  clock: a heartbeat 60 s after the start then every 30 minutes, a 4-hour summary when the
  clock crosses a multiple of 4 hours UTC, a daily summary at 00:00 UTC (that day's trades
  only, domain.md §11.1). A simulated run moves that clock fast, so these are throttled
  to one post per channel per wall minute: the ones that wait keep only the newest of each
  kind and go out most important first (daily, 4-hour, heartbeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Concatenate, ParamSpec

import structlog

from trading.engine.records import (
    BreakerChanged,
    CandleClosed,
    Decision,
    PositionClosed,
    PositionOpened,
    RegimeChanged,
)
from trading.notifications import messages, status
from trading.notifications.embeds import Post
from trading.notifications.tasks import post_notification

log = structlog.get_logger(__name__)

MINUTE_MS = 60_000
HEARTBEAT_FIRST_MS = MINUTE_MS
HEARTBEAT_EVERY_MS = 30 * MINUTE_MS
FOUR_HOURS_MS = 4 * 60 * MINUTE_MS
DAY_MS = 24 * 60 * MINUTE_MS
TIMED_EVERY_WALL_S = 60.0  # at most one time-based post per channel per wall minute
TIMED_PRIORITY = ("daily", "four_hour", "heartbeat")
FEED_DOWN_STATES = frozenset({"reconnecting"})


P = ParamSpec("P")


def _contained(
    method: Callable[Concatenate[NotificationSink, P], None],
) -> Callable[Concatenate[NotificationSink, P], None]:
    """A notification that cannot be built is logged and counted, never raised: the caller
    is the trading loop, and a bad post must not become a failed event."""

    @functools.wraps(method)
    def contained(self: NotificationSink, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception:
            self.errors += 1
            log.exception("notification_not_built", call=method.__name__)

    return contained


def dispatch_post(post: Post) -> None:
    """Hand a post to the transport task (eager in the embedded profile)."""
    post_notification.delay(post.channel, post.payload)


@dataclass
class _Burst:
    posted_at: float  # wall (monotonic) seconds of the last post of this key
    held: int = 0  # events since then that did not post
    latest: Callable[[int], Post] | None = None  # builds the post for the latest event


@dataclass
class _Period:
    """Closed trades of one summary period, per lane."""

    since_ms: int
    tallies: dict[str, messages.Tally] = field(default_factory=dict)

    def add(self, record: PositionClosed) -> None:
        self.tallies.setdefault(record.lane, messages.Tally()).add(record)


class NotificationSink:
    def __init__(
        self,
        *,
        mode: str = "paper",
        bankrolls: Mapping[str, int] | None = None,
        channels: Collection[str] | None = None,
        dispatch: Callable[[Post], None] = dispatch_post,
        wall: Callable[[], float] = time.monotonic,
        burst_interval_s: float = 300.0,
        queue_max: int = 1000,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self.mode = mode
        self.channels = frozenset(status.webhooks() if channels is None else channels)
        self.dispatch = dispatch
        self.wall = wall
        self.burst_interval_s = burst_interval_s
        self.queue_max = queue_max
        self.stop_timeout_s = stop_timeout_s
        self.dropped = 0  # posts dropped from a full queue
        self.errors = 0  # notifications that could not be built (logged)
        self.bankrolls: dict[str, int] = dict(bankrolls or {})
        self.positions: dict[str, PositionOpened] = {}
        self.spot: float | None = None
        self.ticker: str | None = None
        self._pending: deque[Post] = deque()
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._bursts: dict[str, _Burst] = {}
        self._feeds_down: set[str] = set()
        self._timed_waiting: dict[str, dict[str, Post]] = {}  # channel → kind → newest post
        self._timed_posted_at: dict[str, float] = {}  # channel → wall seconds
        self._start_ms: int | None = None
        self._now_ms = 0
        self._next_due_ms = 0
        self._next_heartbeat_ms = 0
        self._four_hour = _Period(0)  # the periods start at the first ``now_ms``
        self._day = _Period(0)

    # --- the trading loop's calls (never wait) -------------------------------------------

    @_contained
    def consume(self, produced: Sequence[object], now_ms: int) -> None:
        """The records one event produced, at the trading clock ``now_ms``."""
        self._now_ms = now_ms
        if now_ms >= self._next_due_ms:
            self._clock(now_ms)
        for record in produced:
            if isinstance(record, Decision):
                if record.reason == "SIZING_FAILED":
                    self._burst(
                        f"sizing:{record.lane}", functools.partial(messages.sizing_failed, record)
                    )
                if record.ticker:
                    self.ticker = record.ticker
            elif isinstance(record, PositionOpened):
                self.positions[record.lane] = record
                self._send_all(messages.trade_opened(record))
            elif isinstance(record, PositionClosed):
                self._closed(record)
            elif isinstance(record, BreakerChanged):
                self.bankrolls[record.lane] = record.bankroll
                self._send(messages.breaker_changed(record))
            elif isinstance(record, RegimeChanged):
                self._burst("regime", functools.partial(messages.regime_changed, record, self.mode))
            elif isinstance(record, CandleClosed):
                self.spot = record.close

    @_contained
    def trader_started(
        self, *, bankrolls: Mapping[str, int] | None = None, restored: bool = False
    ) -> None:
        """The daemon is up; ``bankrolls`` is each lane's as it starts (restored or new),
        which the sink then follows through the records (closes, breaker changes)."""
        self.bankrolls.update(bankrolls or {})
        self._send(
            messages.trader_started(mode=self.mode, lanes=self._bankrolls(), restored=restored)
        )

    @_contained
    def trader_stopped(self) -> None:
        uptime = 0 if self._start_ms is None else self._now_ms - self._start_ms
        self._send(
            messages.trader_stopped(mode=self.mode, uptime_ms=uptime, lanes=self._bankrolls())
        )

    @_contained
    def feed_state_changed(self, name: str, state: str) -> None:
        """A feed went down (reconnecting) or came back: the first connect and the stop
        are not news; a feed that flaps posts once per burst interval with a count."""
        if state in FEED_DOWN_STATES:
            self._feeds_down.add(name)
        elif state == "connected" and name in self._feeds_down:
            self._feeds_down.discard(name)
        else:
            return
        self._burst(
            f"feed:{name}",
            lambda repeats: messages.feed_state(
                mode=self.mode, name=name, state=state, repeats=repeats
            ),
        )

    @_contained
    def db_error(self, text: str) -> None:
        self._burst(
            "db", lambda repeats: messages.db_error(mode=self.mode, text=text, repeats=repeats)
        )

    @_contained
    def event_failed(self, kind: str, error: str) -> None:
        """An event the session raised on (logged and skipped by the daemon)."""
        self._burst(
            "event",
            lambda repeats: messages.event_failed(
                mode=self.mode, kind=kind, error=error, repeats=repeats
            ),
        )

    # --- the background drain ------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Start the sending thread; each second release what bursts and the wall-minute
        throttle held back; at ``stop``, give the thread ``stop_timeout_s`` to send what
        is queued (the daemon's ``trader_stopped`` included), then leave it behind."""
        self._thread = threading.Thread(target=self._drain, name="notifications", daemon=True)
        self._thread.start()
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                self.release()
        finally:
            self._closing = True
            self._wake.set()
            await asyncio.to_thread(self._thread.join, self.stop_timeout_s)
            if self._thread.is_alive():
                log.warning("notifications_unsent_at_stop", waiting=len(self._pending))

    @_contained
    def release(self) -> None:
        """Post what waited for the end of its burst interval or its wall minute."""
        now = self.wall()
        for burst in self._bursts.values():
            due = now - burst.posted_at >= self.burst_interval_s
            if due and burst.held and burst.latest is not None:
                self._send(burst.latest(burst.held))
                burst.posted_at, burst.held, burst.latest = now, 0, None
        for channel in self._timed_waiting:
            self._release_timed(channel, now)

    @property
    def waiting(self) -> int:
        """Posts queued for the sending thread."""
        return len(self._pending)

    def _drain(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._pending:
                try:
                    post = self._pending.popleft()
                except IndexError:  # dropped by the loop's overflow meanwhile
                    break
                try:
                    self.dispatch(post)
                except Exception:
                    log.exception("notification_dispatch_failed", channel=post.channel)
            if self._closing:
                return

    # --- what the loop decides -----------------------------------------------------------

    def _send(self, post: Post) -> None:
        if post.channel not in self.channels:
            return  # a channel without a webhook is off: a quiet no-op
        if len(self._pending) >= self.queue_max:
            self._pending.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("notifications_dropped", dropped=self.dropped, waiting=self.queue_max)
        self._pending.append(post)
        self._wake.set()

    def _send_all(self, posts: Sequence[Post]) -> None:
        for post in posts:
            self._send(post)

    def _burst(self, key: str, build: Callable[[int], Post]) -> None:
        now = self.wall()
        burst = self._bursts.get(key)
        if burst is None or now - burst.posted_at >= self.burst_interval_s:
            self._bursts[key] = _Burst(posted_at=now)
            self._send(build(0 if burst is None else burst.held))
            return
        burst.held += 1
        burst.latest = build

    def _closed(self, record: PositionClosed) -> None:
        self.positions.pop(record.lane, None)
        if record.quarantine:
            # The engine reversed its effect on the bankroll; it is no trade for the tallies.
            self._send(messages.trade_quarantined(record))
        else:
            if record.lane in self.bankrolls:
                self.bankrolls[record.lane] += record.pnl
            self._four_hour.add(record)
            self._day.add(record)
        bankroll = self.bankrolls.get(record.lane)
        self._send_all(messages.trade_closed(record, bankroll))
        if record.lane == "live":
            # The review falls back to the trades channel when live trades is off (§8).
            channel = "live_trades" if "live_trades" in self.channels else "trades"
            self._send(messages.live_review(record, bankroll, channel=channel))

    def _clock(self, now_ms: int) -> None:
        """The trading clock reached the next time-based post."""
        self._now_ms = now_ms
        if self._start_ms is None:
            self._start_ms = now_ms
            self._next_heartbeat_ms = now_ms + HEARTBEAT_FIRST_MS
            self._four_hour = _Period(now_ms)
            self._day = _Period(now_ms)
        if now_ms // DAY_MS > self._day.since_ms // DAY_MS:
            self._timed("daily", self._summary("Daily summary", self._day, now_ms, DAY_MS))
            self._day = _Period(now_ms - now_ms % DAY_MS)
        if now_ms // FOUR_HOURS_MS > self._four_hour.since_ms // FOUR_HOURS_MS:
            post = self._summary("4-hour summary", self._four_hour, now_ms, FOUR_HOURS_MS)
            self._timed("four_hour", post)
            self._four_hour = _Period(now_ms - now_ms % FOUR_HOURS_MS)
        if now_ms >= self._next_heartbeat_ms:
            self._timed("heartbeat", self._heartbeat(now_ms))
            self._next_heartbeat_ms = now_ms + HEARTBEAT_EVERY_MS
        self._next_due_ms = min(
            self._next_heartbeat_ms,
            (now_ms // FOUR_HOURS_MS + 1) * FOUR_HOURS_MS,
            (now_ms // DAY_MS + 1) * DAY_MS,
        )

    def _summary(self, title: str, period: _Period, now_ms: int, length_ms: int) -> Post:
        end = (now_ms // length_ms) * length_ms  # the boundary the clock just crossed
        return messages.summary(
            title, mode=self.mode, now_ms=end, since_ms=period.since_ms, tallies=period.tallies
        )

    def _heartbeat(self, now_ms: int) -> Post:
        assert self._start_ms is not None
        lanes = [
            messages.LaneView(name, self.bankrolls.get(name), self._position_text(name))
            for name in sorted(set(self.bankrolls) | set(self.positions))
        ]
        return messages.heartbeat(
            mode=self.mode,
            now_ms=now_ms,
            uptime_ms=now_ms - self._start_ms,
            spot=self.spot,
            ticker=self.ticker,
            lanes=lanes,
        )

    def _position_text(self, lane: str) -> str:
        opened = self.positions.get(lane)
        if opened is None:
            return "flat"
        return (
            f"{opened.direction} {messages.contracts(opened.count)} {opened.ticker}"
            f" @ {messages.cents(opened.entry_yes_price)}"
        )

    def _timed(self, kind: str, post: Post) -> None:
        if post.channel not in self.channels:
            return
        self._timed_waiting.setdefault(post.channel, {})[kind] = post
        self._release_timed(post.channel, self.wall())

    def _release_timed(self, channel: str, now: float) -> None:
        """The most important waiting post, if the channel's wall minute has passed."""
        waiting = self._timed_waiting[channel]
        if waiting and now - self._timed_posted_at.get(channel, -1e18) >= TIMED_EVERY_WALL_S:
            kind = next(kind for kind in TIMED_PRIORITY if kind in waiting)
            self._send(waiting.pop(kind))
            self._timed_posted_at[channel] = now

    def _bankrolls(self) -> dict[str, int | None]:
        return {name: self.bankrolls.get(name) for name in sorted(self.bankrolls)}
