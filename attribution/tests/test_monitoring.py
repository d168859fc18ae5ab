"""The hourly pass: each live-health tripwire fires, posts to the risk channel and then
stays quiet for its cooldown; signal-health baselines and alerts per lane."""

from __future__ import annotations

import datetime as dt

import pytest

from attribution.models import SignalBaseline, TripwireState
from attribution.monitoring import lane_signal_health, live_health_check
from trading.models import Decision, OpenPosition, TradingControls
from trading.tests.factories import trade

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhooks", "eager")]

NOW = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


def live_mode(*, paused: bool = False) -> None:
    TradingControls.objects.update_or_create(
        pk=1, defaults={"trading_mode": "live", "paused": paused}
    )


def closed_at(at: dt.datetime, **kw):
    return trade(opened_at_ms=ms(at) - 300_000, closed_at_ms=ms(at), **kw)


def decisions(count: int, *, at: dt.datetime, skip_reason: str = "") -> None:
    Decision.objects.bulk_create(
        Decision(lane="live", ts=at - dt.timedelta(seconds=i), kind="sample",
                 skip_reason=skip_reason)
        for i in range(count)
    )  # fmt: skip


def check(now, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return live_health_check(now=now)


def tripwire_posts(server, name):
    return [p for p in server.on("risk") if p.title == f"[LIVE] Tripwire: {name}"]


def test_live_drought_fires_then_cools_down_for_12_hours(
    server, django_capture_on_commit_callbacks
):
    live_mode()
    for i in range(5):
        closed_at(NOW - (i + 1) * H, lane="paper")
    assert check(NOW, django_capture_on_commit_callbacks) == ["live_drought"]
    [post] = tripwire_posts(server, "live_drought")
    assert post.field("Last live trade") == "never"
    assert check(NOW + 11 * H, django_capture_on_commit_callbacks) == []  # cooling down
    state = TripwireState.objects.get(name="live_drought")
    assert state.cooldown_until == NOW + 12 * H
    for i in range(5):  # still paper trading, still no live trade
        closed_at(NOW + 12 * H - (i + 1) * H, lane="paper")
    assert check(NOW + 12 * H, django_capture_on_commit_callbacks) == ["live_drought"]
    assert len(tripwire_posts(server, "live_drought")) == 2


def test_live_drought_stays_quiet_in_paper_mode_when_paused_or_with_a_recent_live_trade(
    server, django_capture_on_commit_callbacks
):
    for i in range(5):
        closed_at(NOW - (i + 1) * H, lane="paper")
    assert check(NOW, django_capture_on_commit_callbacks) == []  # paper mode
    live_mode(paused=True)
    assert check(NOW, django_capture_on_commit_callbacks) == []
    live_mode()
    closed_at(NOW - 35 * H, lane="live")
    assert check(NOW, django_capture_on_commit_callbacks) == []
    assert not tripwire_posts(server, "live_drought")


def test_edge_skip_ratio_needs_two_hourly_readings_above_95_percent(
    server, django_capture_on_commit_callbacks
):
    live_mode()
    closed_at(NOW - H, lane="live")  # no drought
    decisions(97, at=NOW, skip_reason="EDGE_ROC_VETO")
    decisions(3, at=NOW)
    assert check(NOW, django_capture_on_commit_callbacks) == []  # one reading of 0.97
    assert check(NOW + H, django_capture_on_commit_callbacks) == ["edge_skip_ratio"]
    assert TripwireState.objects.get(name="edge_skip_ratio").history == [0.97, 0.97]
    assert check(NOW + 2 * H, django_capture_on_commit_callbacks) == []  # cooldown 12 h
    assert len(tripwire_posts(server, "edge_skip_ratio")) == 1
    assert check(NOW + 13 * H, django_capture_on_commit_callbacks) == ["edge_skip_ratio"]
    assert check(NOW + 26 * H, django_capture_on_commit_callbacks) == []  # rows aged out


def test_edge_skip_ratio_at_exactly_95_percent_does_not_fire(django_capture_on_commit_callbacks):
    live_mode()
    closed_at(NOW - H, lane="live")
    decisions(95, at=NOW, skip_reason="EDGE_PRICE_CAP")
    decisions(5, at=NOW)
    check(NOW, django_capture_on_commit_callbacks)
    assert check(NOW + 0.5 * H, django_capture_on_commit_callbacks) == []


def test_direction_imbalance_fires_and_cools_down_for_a_day(
    server, django_capture_on_commit_callbacks
):
    live_mode()
    closed_at(NOW - H, lane="live", direction="long")
    decisions(50, at=NOW - 24 * H, skip_reason="EDGE_SHORT_PRICE")
    decisions(9, at=NOW - 24 * H, skip_reason="EDGE_LONG_PRICE")
    assert check(NOW, django_capture_on_commit_callbacks) == ["direction_imbalance"]
    [post] = tripwire_posts(server, "direction_imbalance")
    assert post.field("Short rejections") == "50"
    assert check(NOW + 23 * H, django_capture_on_commit_callbacks) == []
    assert TripwireState.objects.get(name="direction_imbalance").cooldown_until == NOW + 24 * H


def test_direction_imbalance_is_quiet_with_a_live_short_or_balanced_rejections(
    django_capture_on_commit_callbacks,
):
    live_mode()
    decisions(50, at=NOW - 24 * H, skip_reason="EDGE_SHORT_PRICE")
    decisions(10, at=NOW - 24 * H, skip_reason="EDGE_LONG_PRICE")  # exactly 5×: not more
    closed_at(NOW - H, lane="live", direction="long")
    assert check(NOW, django_capture_on_commit_callbacks) == []


def _hold(opened: dt.datetime) -> None:
    OpenPosition.objects.create(
        lane="live", position_uid="live-1", ticker="KXBTC15M-26JAN101115-15",
        direction="long", contracts=1, entry_price="0.4200", opened_at=opened, cost="0.42",
    )  # fmt: skip


def test_a_live_position_held_2_hours_without_activity_fires(
    server, django_capture_on_commit_callbacks
):
    _hold(NOW - 2 * H - dt.timedelta(minutes=1))
    decisions(1, at=NOW - 2 * H - dt.timedelta(seconds=30))  # before the window
    assert check(NOW, django_capture_on_commit_callbacks) == ["position_not_flat"]
    [post] = tripwire_posts(server, "position_not_flat")
    assert post.field("Ticker") == "KXBTC15M-26JAN101115-15"
    assert check(NOW + 5 * H, django_capture_on_commit_callbacks) == []  # cooldown 6 h
    assert check(NOW + 6 * H, django_capture_on_commit_callbacks) == ["position_not_flat"]


def test_a_held_position_with_live_activity_is_not_stuck(django_capture_on_commit_callbacks):
    _hold(NOW - 3 * H)
    decisions(1, at=NOW - H)
    assert check(NOW, django_capture_on_commit_callbacks) == []
    OpenPosition.objects.all().delete()
    _hold(NOW - H)  # held for one hour only
    Decision.objects.all().delete()
    assert check(NOW, django_capture_on_commit_callbacks) == []


def _paper_trades(count: int, *, end: dt.datetime, win_every: int) -> None:
    for i in range(count):
        win = i % win_every == 0
        closed_at(end - i * H, lane="paper", pnl=400_000 if win else -300_000,
                  entry_obi=0.7, entry_roc=0.001)  # fmt: skip


def test_the_baseline_is_taken_once_with_its_date_then_signal_health_alerts(
    server, django_capture_on_commit_callbacks
):
    _paper_trades(20, end=NOW, win_every=2)  # 50 % wins
    check(NOW, django_capture_on_commit_callbacks)
    baseline = SignalBaseline.objects.get(lane="paper")
    assert (baseline.taken_at, baseline.trades, baseline.win_rate) == (NOW, 20, 0.5)
    # Ten days later a worse stretch: 25 % wins; the baseline is kept (not 30 days old).
    later = NOW + dt.timedelta(days=10)
    _paper_trades(40, end=later, win_every=4)
    health = lane_signal_health(lane="paper", now=later)
    assert health["baseline"]["taken_at"] == NOW.isoformat()
    assert any(a.startswith("win rate") for a in health["alerts"])
    assert check(later, django_capture_on_commit_callbacks) == ["signal_health_paper"]
    [post] = [p for p in server.on("risk") if p.title == "[PAPER] Tripwire: signal_health_paper"]
    assert "win rate" in post.embed["description"]
    assert SignalBaseline.objects.get(lane="paper").taken_at == NOW
    assert check(later + H, django_capture_on_commit_callbacks) == []  # cooldown 24 h


def test_the_baseline_is_retaken_after_30_days(django_capture_on_commit_callbacks):
    _paper_trades(20, end=NOW, win_every=2)
    check(NOW, django_capture_on_commit_callbacks)
    later = NOW + dt.timedelta(days=31)
    _paper_trades(20, end=later, win_every=4)
    check(later, django_capture_on_commit_callbacks)
    baseline = SignalBaseline.objects.get(lane="paper")
    assert (baseline.taken_at, baseline.win_rate) == (later, 0.25)
