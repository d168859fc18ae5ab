"""Writes of the attribution app: the daily and weekly attribution rows (domain.md §5.2).

Days are UTC days of the trade's **exit**; the session band inside them comes from the
entry (``attribution.breakdown``). Every write is an upsert keyed by (lane, day) or
(lane, week), so a job run twice, or re-run by hand, changes nothing but ``computed_at``.

``attribution_catch_up`` is what the schedules run: it writes every day and week that has
ended on the trading clock and is missing (or whose stored count no longer matches its
trades: a trade written late, a row flagged since), so a stopped worker back-fills the days
it missed instead of skipping them. Production's clock is the wall clock; a simulated run
(the demo) attributes its own simulated days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from attribution.breakdown import attribute
from attribution.models import DailyAttribution, WeeklyAttribution
from attribution.selectors import MICRO, day_trades, first_trade_day
from trading.clock import trading_now
from trading.models import Lane, Trade
from trading.notifications.jobs import notify_attribution_report

log = structlog.get_logger(__name__)

# How far back a catch-up looks for missing days: a fresh install with a long trade history
# attributes its last quarter at once, and older days on request (manage.py attribution).
BACKFILL_DAYS = 92
DRIFT_DIMENSIONS = (("session", "by_session"), ("regime", "by_regime"))


def _dollars(micro: int) -> Decimal:
    return Decimal(micro) / MICRO


def _money_text(micro: int) -> str:
    sign = "-" if micro < 0 else ""
    return f"{sign}${abs(micro) / 1_000_000:,.2f}"


def week_start_of(day: dt.date) -> dt.date:
    """The Sunday that starts ``day``'s week (the weekly job runs Sunday 00:10 UTC over the
    seven days before it)."""
    return day - dt.timedelta(days=(day.weekday() + 1) % 7)


def attribution_day_compute(*, lane: str, day: dt.date) -> tuple[DailyAttribution, bool]:
    """Attribute ``lane``'s trades that exited on ``day``; upsert. True when created."""
    result = attribute(day_trades(lane=lane, day=day))
    row, created = DailyAttribution.objects.update_or_create(
        lane=lane,
        day=day,
        defaults={
            "total_trades": result["trades"],
            "total_pnl": _dollars(result["pnl"]),
            "total_fees": _dollars(result["execution"]["fees"]),
            "attribution": result,
            "computed_at": timezone.now(),
        },
    )
    return row, created


def flipped_groups(this_week: dict[str, Any], prior_week: dict[str, Any]) -> list[dict[str, Any]]:
    """The drift rule of domain.md §5.2: a session or regime lost money this week after
    making money the week before."""
    flipped = []
    for dimension, key in DRIFT_DIMENSIONS:
        for name, group in this_week[key].items():
            prior = prior_week[key].get(name)
            if group["pnl"] < 0 and prior is not None and prior["pnl"] > 0:
                flipped.append(
                    {
                        "dimension": dimension,
                        "name": name,
                        "pnl": group["pnl"],
                        "prior_pnl": prior["pnl"],
                    }
                )
    return flipped


def attribution_week_compute(*, lane: str, week_start: dt.date) -> tuple[WeeklyAttribution, bool]:
    """Attribute the seven days from ``week_start`` (normalised to its Sunday) and compare
    them with the seven before; upsert. True when created."""
    week_start = week_start_of(week_start)
    result = attribute(day_trades(lane=lane, day=week_start, days=7))
    prior = attribute(day_trades(lane=lane, day=week_start - dt.timedelta(days=7), days=7))
    execution = result["execution"]
    row, created = WeeklyAttribution.objects.update_or_create(
        lane=lane,
        week_start=week_start,
        defaults={
            "total_trades": result["trades"],
            "total_pnl": _dollars(result["pnl"]),
            "total_fees": _dollars(execution["fees"]),
            "fee_drag": execution["fees_share_of_gross"],
            "attribution": result,
            "flipped": flipped_groups(result, prior),
            "computed_at": timezone.now(),
        },
    )
    return row, created


@dataclass
class CatchUp:
    now: dt.datetime
    days: list[tuple[str, dt.date]] = field(default_factory=list)
    weeks: list[tuple[str, dt.date]] = field(default_factory=list)


def _stale_days(*, lane: str, first: dt.date, last: dt.date) -> list[dt.date]:
    """Days in ``[first, last]`` without a row, or whose row counts other trades than the
    table now holds."""
    counts = dict(
        Trade.objects.filter(
            lane=lane,
            quarantined=False,
            data_quality_flag="",
            closed_at__gte=dt.datetime.combine(first, dt.time.min, tzinfo=dt.UTC),
            closed_at__lt=dt.datetime.combine(
                last + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC
            ),
        )
        .annotate(day=TruncDate("closed_at", tzinfo=dt.UTC))
        .values_list("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    stored = dict(
        DailyAttribution.objects.filter(lane=lane, day__gte=first, day__lte=last).values_list(
            "day", "total_trades"
        )
    )
    days = []
    day = first
    while day <= last:
        if stored.get(day) != counts.get(day, 0):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def attribution_catch_up(
    *,
    now: dt.datetime | None = None,
    lanes: tuple[str, ...] | None = None,
    days: bool = True,
    weeks: bool = True,
) -> CatchUp:
    """Attribute every ended day (``days``) and week (``weeks``) that is missing or stale,
    for each lane with trades; posts the report of the newest day and week when new."""
    now = now or trading_now()
    today = now.astimezone(dt.UTC).date()
    done = CatchUp(now=now)
    for lane in lanes or tuple(Lane.values):
        first = first_trade_day(lane=lane)
        if first is None or first >= today:
            continue
        first = max(first, today - dt.timedelta(days=BACKFILL_DAYS))
        if days:
            done.days += [
                (lane, day) for day in _days_catch_up(lane=lane, first=first, today=today)
            ]
        if weeks:
            done.weeks += [
                (lane, week) for week in _weeks_catch_up(lane=lane, first=first, today=today)
            ]
    log.info(
        "attribution_catch_up",
        now=now.isoformat(),
        days=[f"{lane} {day}" for lane, day in done.days],
        weeks=[f"{lane} {week}" for lane, week in done.weeks],
    )
    return done


def _days_catch_up(*, lane: str, first: dt.date, today: dt.date) -> list[dt.date]:
    yesterday = today - dt.timedelta(days=1)
    written = []
    for day in _stale_days(lane=lane, first=first, last=yesterday):
        row, created = attribution_day_compute(lane=lane, day=day)
        written.append(day)
        if created and day == yesterday and row.total_trades:
            _post_daily(row)
    return written


def _weeks_catch_up(*, lane: str, first: dt.date, today: dt.date) -> list[dt.date]:
    last_week = week_start_of(today) - dt.timedelta(days=7)
    week = week_start_of(first)
    stored = set(
        WeeklyAttribution.objects.filter(lane=lane, week_start__gte=week).values_list(
            "week_start", flat=True
        )
    )
    written = []
    while week <= last_week:
        if week not in stored:
            row, created = attribution_week_compute(lane=lane, week_start=week)
            written.append(week)
            if created and week == last_week:
                _post_weekly(row)
        week += dt.timedelta(days=7)
    return written


def _group_fields(groups: dict[str, dict[str, Any]]) -> str:
    return (
        ", ".join(
            f"{name} {_money_text(g['pnl'])} ({g['trades']})"
            for name, g in groups.items()
            if g["trades"]
        )
        or "none"
    )


def _post_daily(row: DailyAttribution) -> None:
    result = row.attribution
    notify_attribution_report(
        mode=row.lane,
        title=f"Daily attribution {row.day}",
        text=f"{row.total_trades} trades, net {_money_text(result['pnl'])}, fees "
        f"{_money_text(result['execution']['fees'])}",
        fields={
            "Conviction": _group_fields(result["by_conviction"]),
            "Session": _group_fields(result["by_session"]),
            "Regime": _group_fields(result["by_regime"]),
            "Exit reasons": _group_fields(result["by_exit_reason"]),
        },
    )


def _post_weekly(row: WeeklyAttribution) -> None:
    result = row.attribution
    flipped = ", ".join(f"{f['dimension']} {f['name']}" for f in row.flipped) or "none"
    drag = f"{row.fee_drag:.1%}" if row.fee_drag is not None else "n/a"
    notify_attribution_report(
        mode=row.lane,
        title=f"Weekly digest {row.week_start} – {row.week_start + dt.timedelta(days=6)}",
        text=f"{row.total_trades} trades, net {_money_text(result['pnl'])}, fee drag {drag}",
        fields={
            "Conviction": _group_fields(result["by_conviction"]),
            "Session": _group_fields(result["by_session"]),
            "Regime": _group_fields(result["by_regime"]),
            "Flipped": flipped,
        },
    )
