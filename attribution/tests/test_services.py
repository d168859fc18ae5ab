"""The daily and weekly attribution rows: band edges, exit days, upserts, back-fill, drift."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command

from attribution.models import DailyAttribution, WeeklyAttribution
from attribution.services import (
    attribution_catch_up,
    attribution_day_compute,
    attribution_week_compute,
    week_start_of,
)
from trading.tests.factories import trade

pytestmark = pytest.mark.django_db

SECOND = 1000
HOUR = 3_600_000
DAY = 24 * HOUR
D0 = dt.date(2026, 1, 4)  # a Sunday
D0_MS = 1_767_484_800_000  # 2026-01-04T00:00Z


def at(day: int, hour: float = 0) -> dt.datetime:
    return dt.datetime(2026, 1, 4, tzinfo=dt.UTC) + dt.timedelta(days=day, hours=hour)


def closed(opened_ms: int, *, hold_ms: int = 5 * 60_000, pnl: int = 1_000_000, **kw: object):
    return trade(opened_at_ms=opened_ms, closed_at_ms=opened_ms + hold_ms, pnl=pnl, **kw)


def test_d0_is_a_sunday_at_midnight():
    assert D0.weekday() == 6
    assert dt.datetime.fromtimestamp(D0_MS / 1000, tz=dt.UTC) == at(0)


def test_the_session_band_comes_from_the_entry_at_the_0800_edge():
    closed(D0_MS + 8 * HOUR - SECOND)  # 07:59:59 → ASIA, exits 08:04:59
    closed(D0_MS + 8 * HOUR)  # 08:00:00 → LONDON
    row, _ = attribution_day_compute(lane="paper", day=D0)
    sessions = row.attribution["by_session"]
    assert (sessions["ASIA"]["trades"], sessions["LONDON"]["trades"]) == (1, 1)


def test_the_day_comes_from_the_exit():
    closed(D0_MS + DAY - 60 * SECOND, hold_ms=2 * 60_000)  # enters 23:59 Sunday, exits Monday
    sunday, _ = attribution_day_compute(lane="paper", day=D0)
    monday, _ = attribution_day_compute(lane="paper", day=D0 + dt.timedelta(days=1))
    assert (sunday.total_trades, monday.total_trades) == (0, 1)
    assert monday.attribution["by_session"]["US_CLOSE"]["trades"] == 1  # its entry's band


def test_quarantined_and_flagged_trades_are_not_counted():
    closed(D0_MS + HOUR, pnl=2_000_000)
    closed(D0_MS + 2 * HOUR, pnl=-9_000_000, quarantined=True, error_reason="RAPID_FIRE_LOOP")
    closed(D0_MS + 3 * HOUR, pnl=-9_000_000, data_quality_flag="CORRUPTED_PNL")
    row, _ = attribution_day_compute(lane="paper", day=D0)
    assert (row.total_trades, row.total_pnl) == (1, Decimal("2.000000"))


def test_lanes_are_attributed_apart():
    closed(D0_MS + HOUR, lane="paper")
    closed(D0_MS + HOUR, lane="live", pnl=-500_000)
    paper, _ = attribution_day_compute(lane="paper", day=D0)
    live, _ = attribution_day_compute(lane="live", day=D0)
    assert (paper.total_pnl, live.total_pnl) == (Decimal("1.000000"), Decimal("-0.500000"))


@pytest.mark.parametrize(("count", "best"), [(10, None), (11, "MEDIUM")])
def test_a_regime_needs_more_than_ten_trades_to_be_best(count, best):
    for i in range(count):
        closed(D0_MS + i * HOUR, regime="MEDIUM")
    row, _ = attribution_day_compute(lane="paper", day=D0)
    assert row.attribution["by_regime"]["MEDIUM"]["trades"] == count
    assert row.attribution["best_regime"] == best


def test_the_daily_job_is_idempotent():
    closed(D0_MS + HOUR, fees=300_000)
    first, created = attribution_day_compute(lane="paper", day=D0)
    again, created_again = attribution_day_compute(lane="paper", day=D0)
    assert (created, created_again) == (True, False)
    assert first.pk == again.pk
    assert again.attribution == first.attribution
    assert (again.total_trades, again.total_fees) == (1, Decimal("0.300000"))
    assert DailyAttribution.objects.count() == 1


def test_the_catch_up_back_fills_every_missed_day_and_then_has_nothing_to_do():
    closed(D0_MS + HOUR)  # Sunday
    closed(D0_MS + 3 * DAY + HOUR)  # Wednesday; Monday and Tuesday have no trades
    done = attribution_catch_up(now=at(5, 0.1), weeks=False)  # Friday 00:06
    assert [day for _, day in done.days] == [D0 + dt.timedelta(days=i) for i in range(5)]
    rows = dict(DailyAttribution.objects.filter(lane="paper").values_list("day", "total_trades"))
    assert rows == {
        D0: 1,
        D0 + dt.timedelta(1): 0,
        D0 + dt.timedelta(2): 0,
        D0 + dt.timedelta(3): 1,
        D0 + dt.timedelta(4): 0,
    }
    assert attribution_catch_up(now=at(5, 0.2), weeks=False).days == []
    assert not DailyAttribution.objects.filter(lane="live").exists()  # no live trades


def test_the_catch_up_redoes_a_day_whose_trades_changed():
    closed(D0_MS + HOUR)
    attribution_catch_up(now=at(1, 0.1))
    closed(D0_MS + 2 * HOUR)  # written late (a spill applied on restart)
    done = attribution_catch_up(now=at(1, 0.2))
    assert done.days == [("paper", D0)]
    assert DailyAttribution.objects.get(lane="paper", day=D0).total_trades == 2


def test_todays_trades_wait_for_the_day_to_end():
    closed(D0_MS + HOUR)
    assert attribution_catch_up(now=at(0, 23)).days == []


def test_a_week_with_one_flipped_session():
    # Prior week (Dec 28 – Jan 3): ASIA and LONDON made money.
    closed(D0_MS - 7 * DAY + HOUR, pnl=3_000_000)
    closed(D0_MS - 7 * DAY + 9 * HOUR, pnl=1_000_000)
    # This week: ASIA lost, LONDON still made money (so MEDIUM did too), US_MAIN and the
    # HIGH regime lost but made nothing the week before.
    closed(D0_MS + 2 * DAY + HOUR, pnl=-2_000_000)
    closed(D0_MS + 2 * DAY + 9 * HOUR, pnl=2_500_000)
    closed(D0_MS + 2 * DAY + 16 * HOUR, pnl=-700_000, regime="HIGH")
    row, _ = attribution_week_compute(lane="paper", week_start=D0 + dt.timedelta(days=3))
    assert row.week_start == D0
    sessions = [f for f in row.flipped if f["dimension"] == "session"]
    assert sessions == [
        {"dimension": "session", "name": "ASIA", "pnl": -2_000_000, "prior_pnl": 3_000_000}
    ]
    assert row.flipped == sessions  # MEDIUM still made money; HIGH made none before
    assert row.total_trades == 3


def test_the_weekly_fee_drag_is_fees_over_pnl_before_fees():
    closed(D0_MS + HOUR, pnl=600_000, fees=200_000)
    row, _ = attribution_week_compute(lane="paper", week_start=D0)
    assert row.fee_drag == pytest.approx(0.25)


def test_the_catch_up_writes_ended_weeks_only():
    closed(D0_MS + HOUR)
    attribution_catch_up(now=at(6, 23))  # Saturday night: the week has not ended
    assert not WeeklyAttribution.objects.exists()
    done = attribution_catch_up(now=at(7, 0.2))  # Sunday 00:12
    assert done.weeks == [("paper", D0)]
    assert attribution_catch_up(now=at(7, 0.3)).weeks == []


def test_week_starts_are_sundays():
    assert {week_start_of(D0 + dt.timedelta(days=i)) for i in range(7)} == {D0}


def test_the_command_attributes_a_day_and_a_week(capsys):
    closed(D0_MS + HOUR, lane="paper")
    call_command("attribution", "--date", "2026-01-04", "--lane", "paper")
    call_command("attribution", "--week", "2026-01-07")
    out = capsys.readouterr().out
    assert "paper 2026-01-04: 1 trades, net $1.00" in out
    assert "paper week 2026-01-04 – 2026-01-10: 1 trades" in out
    assert "live week 2026-01-04" in out
    assert WeeklyAttribution.objects.count() == 2


def test_the_command_refuses_a_bad_date():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="expected a date YYYY-MM-DD, got '2026-13-01'"):
        call_command("attribution", "--date", "2026-13-01")


@pytest.mark.usefixtures("webhooks", "eager")
def test_the_catch_up_posts_the_newest_day_and_week_only(server):
    closed(D0_MS + HOUR, pnl=-2_000_000)  # Sunday: back-filled quietly
    closed(D0_MS + 6 * DAY + HOUR, pnl=1_500_000, conviction="HIGH")  # Saturday
    attribution_catch_up(now=at(7, 0.1))  # Sunday 00:06: Saturday is yesterday
    posts = server.on("attribution")
    assert [p.title for p in posts] == [
        "[PAPER] Daily attribution 2026-01-10",
        "[PAPER] Weekly digest 2026-01-04 – 2026-01-10",
    ]
    assert posts[0].embed["description"].startswith("1 trades, net $1.50")
    assert "HIGH $1.50 (1)" in posts[0].field("Conviction")
    assert posts[1].field("Flipped") == "none"
    attribution_catch_up(now=at(7, 0.2))
    assert len(server.on("attribution")) == 2  # nothing new, nothing posted
