"""The trading clock as the web side reads it, and the time windows anchored on it.

"Now" is the latest event time (interfaces.md §4), not the wall clock: a replay, the demo
or a test runs in simulated time (January 2026 in the seeded demo), and a panel that counted
"the last 14 days" back from the wall clock showed none of its trades. Every window the
dashboard and the API offer ("24h", "last 14 days") ends at ``trading_now()``.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Max
from django.utils import timezone

from trading import push
from trading.models import BotState, Trade

# The dashboard's chart ranges as the API's ``days`` (0: all of it, as the original's).
RANGE_DAYS: dict[str, int] = {"24h": 1, "1w": 7, "1m": 30, "all": 0}


def trading_now() -> dt.datetime:
    """The trader's "now", from the first of these that exists:

    1. the newest event time in the payloads the daemon published (its live snapshot,
       refreshed every second while it runs, kept for ``push.LATEST_TTL_S``);
    2. the event time of the daemon's last saved state (``BotState.snapshot_at``: every
       five simulated minutes, at every trade and on shutdown);
    3. the latest trade's exit time (trades recorded without a daemon: imports, tests);
    4. the wall clock (a fresh install).
    """
    published = push.latest_event_ms()
    if published is not None:
        return dt.datetime.fromtimestamp(published / 1000, tz=dt.UTC)
    saved = BotState.objects.aggregate(at=Max("snapshot_at"))["at"]
    if saved is not None:
        return saved
    closed = Trade.objects.aggregate(at=Max("closed_at"))["at"]
    if closed is not None:
        return closed
    return timezone.now()


def range_start(range_name: str, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """Where a chart range ("24h", "1w", "1m"; unknown names read as "24h") starts, counted
    back from the trading clock; None for "all"."""
    return days_start(RANGE_DAYS.get(range_name, 1), now=now)


def days_start(days: int, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """``days`` back from the trading clock; None for 0 (everything)."""
    if days < 0:
        raise ValueError(f"days must be 0 (all) or more, not {days}")
    if days == 0:
        return None
    return (now or trading_now()) - dt.timedelta(days=days)


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def last_days(days: int, *, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` of the ``days`` whole UTC days that end with the trading clock's day
    (``days=1``: today only)."""
    if days < 1:
        raise ValueError(f"days must be 1 or more, not {days}")
    today = (now or trading_now()).astimezone(dt.UTC).date()
    return day_start(today - dt.timedelta(days=days - 1)), day_start(today + dt.timedelta(days=1))
