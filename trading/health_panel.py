"""The System health widget: the trader's own report, arranged so that only what is wrong
stands out (the health topic's payload: ``trading.push``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import connection

from attribution.panel import signal_health_rows
from trading import selectors
from trading.notifications.status import channel_states


def health_context(payload: dict[str, Any] | None) -> dict[str, Any]:
    """The trader's own report, arranged so that only what is wrong stands out: its
    troubles as a list above the feeds (refused overrides, a store it cannot reach, events
    it failed on, orders the book could not fill), each feed's counters with its problems
    beside them, and a quiet line for what is fine. Discord channels that fail are troubles
    too, shown whether or not the trader is up (a job's post can fail without it)."""
    notifications = channel_states()
    return {
        "health": payload,
        "feeds": [_feed_row(feed) for feed in (payload or {}).get("feeds", [])],
        "troubles": trader_troubles(payload or {}) + _notification_troubles(notifications),
        "fine": _trader_fine(payload or {}),
        "notifications": notifications,
        "trader": selectors.trader_heartbeat(),
        "web_db": _db_state(),
        "signal_health": signal_health_rows(),
    }


FEED_PROBLEMS = (  # FeedStats counters that are zero on a healthy socket
    ("handler_errors", "handler errors"),
    ("exchange_errors", "exchange errors"),
    ("market_refresh_errors", "market-list refresh errors"),
)


def _feed_row(feed: dict[str, Any]) -> dict[str, Any]:
    problems = []
    if feed.get("malformed"):
        reasons = _counts(feed.get("malformed_reasons") or {})
        problems.append(f"malformed: {feed['malformed']}" + (f" ({reasons})" if reasons else ""))
    problems.extend(f"{label}: {feed[key]}" for key, label in FEED_PROBLEMS if feed.get(key))
    connected = feed.get("state") == "connected"
    if not connected and feed.get("last_error"):
        problems.append(f"last error: {feed['last_error']}")
    return {**feed, "connected": connected, "problems": problems}


def trader_troubles(payload: dict[str, Any]) -> list[dict[str, str]]:
    """``level`` "bad" for what needs the operator now, "warn" for what went wrong and was
    handled; what is fine is not listed (the quiet line says it)."""
    troubles = []
    if payload.get("params_error"):
        troubles.append(
            {
                "level": "bad",
                "label": "Parameters",
                "text": f"{payload['params_error']}. The trader keeps trading on the "
                "parameters already in force.",
            }
        )
    for key, label in (("db", "Trader's DB"), ("redis", "Redis publishes")):
        level = _store_level(payload.get(key))
        if level:
            troubles.append({"level": level, "label": label, "text": str(payload[key])})
    if payload.get("event_errors"):
        troubles.append(
            {
                "level": "warn",
                "label": "Event errors",
                "text": f"{payload['event_errors']} events failed (logged and skipped)",
            }
        )
    if payload.get("open_rows_not_held"):
        troubles.append(
            {
                "level": "bad",
                "label": "Open positions",
                "text": "stored as open but not held by the trader after its start: "
                + ", ".join(payload["open_rows_not_held"]),
            }
        )
    troubles.extend(_recorder_troubles(payload.get("recorder")))
    troubles.extend(_stuck_holds(payload.get("held_contracts")))
    troubles.extend(_live_reconcile_troubles(payload.get("live_reconcile")))
    if payload.get("orders_unfilled"):
        troubles.append(
            {
                "level": "warn",
                "label": "Unfilled orders",
                "text": _counts(
                    {key.replace(":", ": ", 1): n for key, n in payload["orders_unfilled"].items()}
                ),
            }
        )
    return troubles


def _notification_troubles(states: list[dict[str, str]]) -> list[dict[str, str]]:
    troubles = []
    for row in states:
        if row["state"] == "failing":
            text = f"posts failing: {row['last_error']}"
            troubles.append({"level": "bad", "label": f"Discord {row['channel']}", "text": text})
        elif row["state"] == "unknown":
            text = "state unknown (the cache that holds it is unreachable)"
            troubles.append({"level": "warn", "label": f"Discord {row['channel']}", "text": text})
    return troubles


def _recorder_troubles(recorder: dict[str, Any] | None) -> list[dict[str, str]]:
    """The journal under overload (marketdata.recorder.writer): losing events now is "bad",
    events lost earlier or a buffer past half full "warn"."""
    if not recorder:
        return []
    depth = (
        f"{recorder['buffered']} of {recorder['buffer_bound']} events waiting,"
        f" {recorder['lag_s']} s of market time behind"
    )
    if recorder["dropping"]:
        text = f"dropping events now (buffer full): {recorder['dropped']} dropped; {depth}"
        return [{"level": "bad", "label": "Recorder", "text": text}]
    troubles = []
    if recorder["dropped"]:
        text = f"{recorder['dropped']} events dropped when its buffer was full (journal gaps)"
        troubles.append({"level": "warn", "label": "Recorder", "text": text})
    if recorder["buffered"] * 2 >= recorder["buffer_bound"]:
        troubles.append({"level": "warn", "label": "Recorder backlog", "text": depth})
    return troubles


def _stuck_holds(held: dict[str, Any] | None) -> list[dict[str, str]]:
    """Held contracts long past their close with no result from the exchange
    (``trading.runtime.held_status``): the position and its lane's trading wait on them."""
    return [
        {
            "level": "bad",
            "label": "Stuck hold",
            "text": f"{stuck['ticker']} held {stuck['minutes_past_close']} min past its close"
            f" without a result (asked {stuck['lookups']} times;"
            f" last answer: {stuck['last_answer']})",
        }
        for stuck in (held or {}).get("stuck", [])
    ]


def _trader_fine(payload: dict[str, Any]) -> list[str]:
    fine = [
        f"{label}: {payload[key]}"
        for key, label in (("db", "Trader's DB"), ("redis", "Redis"))
        if key in payload and not _store_level(payload[key])
    ]
    if payload.get("event_errors") == 0:
        fine.append("no event errors")
    if payload.get("events_per_s") is not None:
        fine.append(f"{payload['events_per_s']} events/s")
    recorder = payload.get("recorder")
    if recorder and not _recorder_troubles(recorder):
        fine.append(f"journal {recorder['buffered']} waiting, {recorder['lag_s']} s behind")
    return fine


def _store_level(state: Any) -> str:
    """The daemon says "ok", "ok (N … earlier/failed/dropped)" after a handled trouble, and
    anything else ("retrying (N writes waiting): …", "failing …") during an outage."""
    if state is None or state == "ok" or str(state).startswith("not used"):
        return ""
    return "warn" if str(state).startswith("ok") else "bad"


def _counts(counter: Mapping[str, Any]) -> str:
    ranked = sorted(counter.items(), key=lambda item: (-int(item[1] or 0), item[0]))
    return ", ".join(f"{name} ×{count}" for name, count in ranked)


def _db_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as error:  # the panel reports it; nothing to recover here
        return f"error: {type(error).__name__}"


def _live_reconcile_troubles(report: dict[str, Any] | None) -> list[dict[str, str]]:
    """The live lane's reconciliation (#22): entries refused until the start pass, and
    every orphan (it blocks entries) with its exposure."""
    if not report:
        return []
    troubles = []
    if not report.get("passed"):
        text = f"live entries refused: {report.get('reason') or 'not reconciled yet'}"
        troubles.append({"level": "bad", "label": "Live reconciliation", "text": text})
    elif report.get("last_ok") is False:
        text = f"the last pass failed (retried): {report.get('last_error')}"
        troubles.append({"level": "warn", "label": "Live reconciliation", "text": text})
    for orphan in report.get("orphans") or []:
        text = (
            f"{orphan['ticker']}: {orphan['contracts']:.2f} {orphan['side']}, exposure "
            f"${orphan['exposure']:.2f} ({orphan['cause']}); live entries blocked"
        )
        troubles.append({"level": "bad", "label": "Live orphan", "text": text})
    return troubles
