"""Saving and restoring the daemon's session through ``BotState`` (restart, issue #8).

The whole session snapshot (lanes: bankroll, breaker, positions, cooldowns; orders in
flight; the driver's second; the run's warm-up boundary and recorder sessions) is stored
on every lane's row; the row's typed columns carry the same figures for admin and the
dashboard. On start, the market windows are rebuilt by replaying the events this run
recorded, older than the snapshot's "now", after the same warm-up candles: when the run
is shorter than ``replay_window_ms`` the rebuilt market equals the stopped one exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from marketdata.model.events import Event
from marketdata.models import RecordingSession
from marketdata.recorder import iter_events
from trading import selectors
from trading.engine.records import LaneStatus
from trading.models import BreakerState
from trading.runtime.session import SESSION_SNAPSHOT_VERSION
from trading.runtime.writer import Write
from trading.services.trades import bot_state_save


@dataclass(frozen=True)
class Restart:
    snapshot: dict[str, Any]
    warmup_before_ts: int
    events: list[Event]


DAY_MS = 86_400_000


def trade_counts(runtime: dict[str, Any], lane: str, now: int) -> tuple[int, int]:
    """(trades closed this session, trades closed since 00:00 UTC of event time)."""
    counts = runtime.get("trade_counts", {}).get(lane)
    if counts is None:
        return 0, 0
    today = counts["today"] if counts["day"] == now // DAY_MS else 0
    return counts["total"], today


def count_trade(runtime: dict[str, Any], lane: str, ts: int) -> None:
    """Count a closed trade; kept in ``runtime`` so the counts survive a restart."""
    counts = runtime.setdefault("trade_counts", {}).setdefault(
        lane, {"total": 0, "day": ts // DAY_MS, "today": 0}
    )
    if counts["day"] != ts // DAY_MS:
        counts["day"], counts["today"] = ts // DAY_MS, 0
    counts["total"] += 1
    counts["today"] += 1


def save_state_write(
    snapshot: dict[str, Any], statuses: Mapping[str, LaneStatus], runtime: dict[str, Any]
) -> Write:
    """A critical write of every lane's state: the session's snapshot on each lane's row,
    the row's typed columns from the lane's latest status record."""
    now = snapshot["engine"]["now"]
    rows = []
    for name, status in statuses.items():
        reason = status.breaker if status.breaker in BreakerState.values else BreakerState.OK
        rows.append(
            {
                "lane": name,
                "bankroll": status.bankroll,
                "peak": status.peak,
                "daily_baseline": status.daily_start,
                "weekly_baseline": status.weekly_start,
                "breaker_state": reason or BreakerState.OK,
                "cooldown_until_ms": status.cooldown_until_ts,
                "trades_today": trade_counts(runtime, name, now)[1],
                "engine_snapshot": snapshot,
                "snapshot_at_ms": now or None,
            }
        )
    return Write(save_rows, {"rows": rows}, critical=True)


def save_rows(*, rows: Sequence[dict[str, Any]]) -> None:
    for row in rows:
        bot_state_save(**row)


def load_restart(*, lanes: Sequence[str], replay_window_ms: int) -> Restart | None:
    """The saved session and the events to rebuild its market from; None on a fresh start."""
    state = selectors.bot_state_get(lane=lanes[0])
    snapshot = state.engine_snapshot if state is not None else None
    if not snapshot or snapshot.get("version") not in (1, SESSION_SNAPSHOT_VERSION):
        return None
    if set(snapshot["engine"]["lanes"]) != set(lanes):
        return None
    now = snapshot["engine"]["now"]
    runtime = snapshot.get("runtime", {})
    warmup_before = runtime.get("warmup_before_ts") or now
    replay_from = max(warmup_before, now - replay_window_ms)
    sessions = runtime.get("recorder_sessions") or []
    events: list[Event] = []
    if sessions:
        ids = RecordingSession.objects.filter(id__gte=min(sessions)).order_by("id")
        for session_id in ids.values_list("id", flat=True):
            events.extend(iter_events(replay_from, now + 1, session_id=session_id))
    return Restart(snapshot=snapshot, warmup_before_ts=replay_from, events=events)
