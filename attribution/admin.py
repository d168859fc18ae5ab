from __future__ import annotations

from django.contrib import admin

from attribution.models import DailyAttribution, WeeklyAttribution
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
