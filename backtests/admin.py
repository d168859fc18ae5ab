from __future__ import annotations

from django.contrib import admin

from backtests.models import BacktestRun
from trading.admin import ReadOnlyAdmin


@admin.register(BacktestRun)
class BacktestRunAdmin(ReadOnlyAdmin):
    """Runs are written by the backtester only."""

    list_display = ("id", "name", "source", "period_start", "period_end", "status", "progress",
                    "events", "trade_list_sha256")  # fmt: skip
    list_filter = ("status", "source")
    search_fields = ("name", "params_hash", "data_sha256", "trade_list_sha256")
