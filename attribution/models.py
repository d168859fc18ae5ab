"""Models of the attribution app (domain.md §5.2, §6).

Money is ``Decimal(18,6)`` dollars as everywhere in the database; the ``attribution`` JSON is
``attribution.breakdown.attribute()``'s output, whose money is integer micro-dollars.
Writes go through ``attribution.services``.
"""

from __future__ import annotations

from django.db import models

from trading.models import Lane, money_field


class DailyAttribution(models.Model):
    """One lane's closed trades of one UTC day (by exit time), quarantined/flagged excluded.

    Days without trades get a row too (zeros): a missing row is a day the job has not done,
    which is how the back-fill finds it."""

    lane = models.CharField(max_length=8, choices=Lane.choices)
    day = models.DateField()
    total_trades = models.IntegerField()
    total_pnl = money_field()
    total_fees = money_field()
    attribution = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "lane"]
        constraints = [
            models.UniqueConstraint(fields=["lane", "day"], name="daily_attribution_lane_day")
        ]

    def __str__(self) -> str:
        return f"{self.lane} {self.day}: {self.total_trades} trades, {self.total_pnl}"


class WeeklyAttribution(models.Model):
    """Seven UTC days from ``week_start`` (a Sunday) to the Saturday, with the drift rule:
    a session or regime whose PnL is negative this week and was positive the week before."""

    lane = models.CharField(max_length=8, choices=Lane.choices)
    week_start = models.DateField()
    total_trades = models.IntegerField()
    total_pnl = money_field()
    total_fees = money_field()
    fee_drag = models.FloatField(null=True, blank=True, help_text="fees / PnL before fees")
    attribution = models.JSONField(default=dict, blank=True)
    flipped = models.JSONField(
        default=list, blank=True, help_text='[{"dimension", "name", "pnl", "prior_pnl"}]'
    )
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["-week_start", "lane"]
        constraints = [
            models.UniqueConstraint(
                fields=["lane", "week_start"], name="weekly_attribution_lane_week"
            )
        ]

    def __str__(self) -> str:
        return f"{self.lane} week of {self.week_start}: {self.total_trades} trades"


class SignalBaseline(models.Model):
    """A lane's signal health when it was taken (``attribution.signal_health``): what later
    figures are judged against. Taken with the first 20 trades, replaced once 30 days old
    (the original lost the date and replaced it on the second run, domain.md §6.1 ⚠)."""

    lane = models.CharField(max_length=8, choices=Lane.choices, unique=True)
    taken_at = models.DateTimeField(help_text="trading-clock time of the 30 days it covers")
    trades = models.IntegerField()
    win_rate = models.FloatField(null=True, blank=True)
    sharpe = models.FloatField(null=True, blank=True)
    health = models.JSONField(default=dict, blank=True, help_text="the figures, ICs included")

    def __str__(self) -> str:
        return f"{self.lane} baseline of {self.taken_at:%Y-%m-%d}: {self.trades} trades"


class TripwireState(models.Model):
    """A live-health tripwire's (or signal-health alert's) durable state: when it last
    fired, until when it stays quiet, and the readings a rule needs across runs (the edge
    skip ratio's last hourly ratios)."""

    name = models.CharField(max_length=64, unique=True)
    fired_at = models.DateTimeField(null=True, blank=True)
    cooldown_until = models.DateTimeField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True, help_text="what it last said")
    history = models.JSONField(default=list, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (fired {self.fired_at or 'never'})"
