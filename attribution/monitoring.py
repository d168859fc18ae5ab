"""Signal health per lane and the live-health tripwires (domain.md §6), run hourly.

Every window is counted back from the trading clock (``trading.clock.trading_now``), as
the attribution jobs are, so the demo's simulated days are judged on their own time.
Each rule that fires posts through ``trading.notifications.jobs.notify_tripwire`` and then
stays quiet for its cooldown; cooldowns and the readings a rule carries between runs live
in ``TripwireState`` rows, so a restarted worker neither forgets nor repeats them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import structlog
from django.db import transaction
from django.db.models import Max, Q

from attribution.models import SignalBaseline, TripwireState
from attribution.selectors import attributable_trades
from attribution.signal_health import MIN_TRADES, health_alerts, signal_health
from trading.clock import trading_now
from trading.models import Decision, Lane, OpenPosition, Trade, TradingControls
from trading.notifications.jobs import notify_tripwire

log = structlog.get_logger(__name__)

HEALTH_WINDOW = dt.timedelta(days=30)
BASELINE_MAX_AGE = dt.timedelta(days=30)
HOUR = dt.timedelta(hours=1)


def _last_30_days(lane: str, now: dt.datetime) -> list[Any]:
    """Trades that closed in ``(now − 30 days, now]``: one closed at "now" counts."""
    after = now + dt.timedelta(milliseconds=1)
    return attributable_trades(lane=lane, start=after - HEALTH_WINDOW, end=after)


# --- signal health ------------------------------------------------------------------------


def lane_signal_health(*, lane: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """The lane's last 30 days of counted trades: figures, baseline (with its date) and
    the §6.1 alerts against it."""
    now = now or trading_now()
    health = signal_health(_last_30_days(lane, now))
    baseline = SignalBaseline.objects.filter(lane=lane).first()
    base = baseline.health if baseline is not None else None
    return {
        "lane": lane,
        **health,
        "baseline": (
            {"taken_at": baseline.taken_at.isoformat(), **baseline.health}
            if baseline is not None
            else None
        ),
        "alerts": health_alerts(health, base),
    }


def signal_baseline_refresh(*, lane: str, now: dt.datetime) -> SignalBaseline | None:
    """Take the lane's baseline when it has none (and enough trades) or when it is older
    than 30 days; returns the row in force."""
    baseline = SignalBaseline.objects.filter(lane=lane).first()
    if baseline is not None and now - baseline.taken_at < BASELINE_MAX_AGE:
        return baseline
    health = signal_health(_last_30_days(lane, now))
    if health["trades"] < MIN_TRADES:
        return baseline
    baseline, _ = SignalBaseline.objects.update_or_create(
        lane=lane,
        defaults={
            "taken_at": now,
            "trades": health["trades"],
            "win_rate": health["win_rate"],
            "sharpe": health["sharpe"],
            "health": health,
        },
    )
    return baseline


# --- tripwires ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tripwire:
    name: str
    cooldown: dt.timedelta
    detail: str
    fields: dict[str, str]
    mode: str = "live"


def _tripped(state: TripwireState, wire: Tripwire, now: dt.datetime) -> bool:
    """Post ``wire`` unless its cooldown runs; records the firing. Call inside the row lock."""
    state.checked_at = now
    if state.cooldown_until is not None and now < state.cooldown_until:
        state.save()
        return False
    state.fired_at = now
    state.cooldown_until = now + wire.cooldown
    state.detail = wire.detail[:300]
    state.save()
    transaction.on_commit(
        lambda: notify_tripwire(mode=wire.mode, name=wire.name, detail=wire.detail,
                                fields=wire.fields)
    )  # fmt: skip
    log.warning("tripwire_fired", name=wire.name, detail=wire.detail)
    return True


def _state(name: str) -> TripwireState:
    state, _ = TripwireState.objects.select_for_update().get_or_create(name=name)
    return state


def live_drought(now: dt.datetime, controls: TradingControls) -> Tripwire | None:
    """Live mode, not paused, paper trading (≥ 5 trades in 36 h) but live not (none ever,
    or the last more than 36 h ago)."""
    if controls.trading_mode != "live" or controls.paused:
        return None
    window = dt.timedelta(hours=36)
    paper = Trade.objects.filter(lane=Lane.PAPER, closed_at__gte=now - window).count()
    last_live = Trade.objects.filter(lane=Lane.LIVE).aggregate(at=Max("closed_at"))["at"]
    if paper < 5 or (last_live is not None and now - last_live <= window):
        return None
    age = "never" if last_live is None else f"{(now - last_live) / HOUR:.0f} h ago"
    return Tripwire(
        "live_drought",
        dt.timedelta(hours=12),
        f"{paper} paper trades in 36 h, last live trade {age}",
        {"Paper trades 36 h": str(paper), "Last live trade": age},
    )


def edge_skip_ratio(
    now: dt.datetime, controls: TradingControls, state: TripwireState
) -> Tripwire | None:
    """Live mode, ≥ 100 live signal-log rows in 24 h: the share skipped by an EDGE rule,
    kept hourly (last 7); fires when the last two are both above 0.95."""
    if controls.trading_mode != "live":
        return None
    rows = Decision.objects.filter(lane=Lane.LIVE, ts__gte=now - dt.timedelta(hours=24))
    total = rows.count()
    if total < 100:
        return None
    ratio = rows.filter(skip_reason__startswith="EDGE").count() / total
    state.history = [*state.history, ratio][-7:]
    last_two = state.history[-2:]
    if len(last_two) < 2 or min(last_two) <= 0.95:
        return None
    return Tripwire(
        "edge_skip_ratio",
        dt.timedelta(hours=12),
        f"EDGE rules skipped {ratio:.1%} of {total} live decisions in 24 h"
        f" (two hourly checks above 95 %)",
        {"Ratios": ", ".join(f"{r:.2f}" for r in state.history)},
    )


def direction_imbalance(now: dt.datetime, controls: TradingControls) -> Tripwire | None:
    """Live mode, 7 days: ≥ 50 EDGE rejections of shorts, more than 5× those of longs
    (or any when longs have none), and not one live short."""
    if controls.trading_mode != "live":
        return None
    since = now - dt.timedelta(days=7)
    edge = Decision.objects.filter(lane=Lane.LIVE, ts__gte=since, skip_reason__startswith="EDGE")
    shorts = edge.filter(Q(skip_reason__contains="SHORT") | Q(skip_reason__contains="_NO_")).count()
    longs = edge.filter(
        Q(skip_reason__contains="LONG") | Q(skip_reason__startswith="EDGE_PRICE_CAP")
    ).count()
    live_shorts = Trade.objects.filter(lane=Lane.LIVE, direction="short", closed_at__gte=since)
    if shorts < 50 or (longs and shorts <= 5 * longs) or live_shorts.exists():
        return None
    return Tripwire(
        "direction_imbalance",
        dt.timedelta(hours=24),
        f"{shorts} short-side EDGE rejections against {longs} long-side in 7 days,"
        " and no live short",
        {"Short rejections": str(shorts), "Long rejections": str(longs)},
    )


def position_stuck(now: dt.datetime, controls: TradingControls) -> Tripwire | None:
    """BUG-031: the live position manager holds a position for over 2 h and the live lane
    has done nothing in those 2 h (no signal-log row, no trade)."""
    window = dt.timedelta(hours=2)
    held = OpenPosition.objects.filter(lane=Lane.LIVE, opened_at__lt=now - window).first()
    if held is None:
        return None
    since = now - window
    if (
        Decision.objects.filter(lane=Lane.LIVE, ts__gte=since).exists()
        or Trade.objects.filter(lane=Lane.LIVE, closed_at__gte=since).exists()
    ):
        return None
    hours = (now - held.opened_at) / HOUR
    return Tripwire(
        "position_not_flat",
        dt.timedelta(hours=6),
        f"live position {held.ticker} held {hours:.1f} h with no live activity for 2 h",
        {"Ticker": held.ticker, "Opened": f"{held.opened_at:%Y-%m-%d %H:%M} UTC"},
    )


def signal_health_wire(health: dict[str, Any]) -> Tripwire | None:
    if not health["alerts"]:
        return None
    lane = health["lane"]
    return Tripwire(
        f"signal_health_{lane}",
        dt.timedelta(hours=24),
        "; ".join(health["alerts"]),
        {"Trades (30 d)": str(health["trades"])},
        mode=lane,
    )


def live_health_check(*, now: dt.datetime | None = None) -> list[str]:
    """The hourly pass: baselines, signal-health alerts per lane, the four tripwires.
    Returns the names that fired."""
    now = now or trading_now()
    controls = TradingControls.objects.filter(pk=1).first() or TradingControls()
    fired = []
    with transaction.atomic():
        for lane in Lane.values:
            signal_baseline_refresh(lane=lane, now=now)
            wire = signal_health_wire(lane_signal_health(lane=lane, now=now))
            state = _state(f"signal_health_{lane}")
            if wire is not None and _tripped(state, wire, now):
                fired.append(wire.name)
        skip_state = _state("edge_skip_ratio")
        wires = {
            "live_drought": live_drought(now, controls),
            "edge_skip_ratio": edge_skip_ratio(now, controls, skip_state),
            "direction_imbalance": direction_imbalance(now, controls),
            "position_not_flat": position_stuck(now, controls),
        }
        for name, wire in wires.items():
            state = skip_state if name == "edge_skip_ratio" else _state(name)
            if wire is None:
                state.checked_at = now
                state.save()
            elif _tripped(state, wire, now):
                fired.append(name)
    return fired


def tripwire_states() -> list[dict[str, Any]]:
    return [
        {
            "name": s.name,
            "fired_at": s.fired_at.isoformat() if s.fired_at else None,
            "cooldown_until": s.cooldown_until.isoformat() if s.cooldown_until else None,
            "detail": s.detail,
        }
        for s in TripwireState.objects.all()
    ]
