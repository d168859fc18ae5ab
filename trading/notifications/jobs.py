"""Notifications from jobs outside the trading loop (Celery tasks, management commands).

Each builds its post and hands it to the transport task: a worker's queue in the server
profile, this thread in the embedded one (Celery eager), which is fine here because no job
that calls these is on the trading loop. A channel without a webhook is a quiet no-op.
``mode`` is the badge: "paper" or "live" (the lane the news is about).
"""

from __future__ import annotations

from collections.abc import Mapping

from trading.notifications import messages, status
from trading.notifications.embeds import GREEN, RED, Post
from trading.notifications.tasks import post_notification


def notify(post: Post) -> bool:
    """Queue ``post``; False when its channel is off."""
    if post.channel not in status.webhooks():
        return False
    post_notification.delay(post.channel, post.payload)
    return True


def notify_quarantine(*, mode: str, ticker: str, reason: str, detail: str) -> bool:
    """A trade a job moved to the errored trades (a wallet drift, an anomaly check)."""
    return notify(
        messages.report(
            "errors",
            f"Trade quarantined: {reason}",
            mode=mode,
            text=detail,
            fields={"Ticker": ticker},
            color=RED,
        )
    )


def notify_tripwire(*, mode: str, name: str, detail: str, fields: Mapping[str, str] = {}) -> bool:
    """A live-health tripwire fired (domain.md §6.2: drought, edge skip ratio, ...)."""
    return notify(messages.tripwire(name, detail, mode=mode, fields=fields))


def notify_attribution_report(
    *, mode: str, title: str, text: str, fields: Mapping[str, str] = {}
) -> bool:
    """The daily attribution report or the weekly digest (domain.md §5)."""
    return notify(messages.report("attribution", title, mode=mode, text=text, fields=fields))


def notify_tuning_recommendation(*, mode: str, text: str, changes: Mapping[str, str] = {}) -> bool:
    """A tuning cycle's recommendation (parameter → "old → new"), or its no-op summary."""
    title = "Tuning recommendation" if changes else "Tuning cycle: no change"
    return notify(messages.report("attribution", title, mode=mode, text=text, fields=changes))


def notify_ml_ready(*, mode: str, rows: int, text: str = "") -> bool:
    """Enough labelled feature rows to train the entry gate (domain.md §7.3: 500)."""
    return notify(
        messages.report(
            "attribution",
            "ML data ready",
            mode=mode,
            text=text or f"{rows} labelled rows: the entry gate can be trained.",
            fields={"Rows": str(rows)},
            color=GREEN,
        )
    )


def notify_backup_status(*, mode: str, ok: bool, text: str, fields: Mapping[str, str] = {}) -> bool:
    """A backup done goes to the heartbeat channel; a failed one to errors."""
    return notify(
        messages.report(
            "heartbeat" if ok else "errors",
            "Backup done" if ok else "Backup failed",
            mode=mode,
            text=text,
            fields=fields,
            color=GREEN if ok else RED,
        )
    )
