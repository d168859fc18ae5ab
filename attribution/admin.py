from __future__ import annotations

from django.contrib import admin

from attribution.models import (
    DailyAttribution,
    SignalBaseline,
    TripwireState,
    WeeklyAttribution,
)
from trading.admin import ReadOnlyAdmin


@admin.register(DailyAttribution)
class DailyAttributionAdmin(ReadOnlyAdmin):
    """Written by the attribution jobs (and manage.py attribution) only."""

    list_display = ("day", "lane", "total_trades", "total_pnl", "total_fees", "computed_at")
    list_filter = ("lane",)
    date_hierarchy = "day"


@admin.register(WeeklyAttribution)
class WeeklyAttributionAdmin(ReadOnlyAdmin):
    list_display = ("week_start", "lane", "total_trades", "total_pnl", "fee_drag", "flipped")
    list_filter = ("lane",)


@admin.register(SignalBaseline)
class SignalBaselineAdmin(ReadOnlyAdmin):
    list_display = ("lane", "taken_at", "trades", "win_rate", "sharpe")


@admin.register(TripwireState)
class TripwireStateAdmin(admin.ModelAdmin):
    """Editable: clearing ``cooldown_until`` re-arms a tripwire at the next hourly check."""

    list_display = ("name", "fired_at", "cooldown_until", "detail", "checked_at")
    readonly_fields = ("name", "fired_at", "detail", "history", "checked_at")
