from __future__ import annotations

from django.contrib import admin

from mlgate.models import ModelVersion, TradeFeatures
from trading.admin import ReadOnlyAdmin


@admin.register(TradeFeatures)
class TradeFeaturesAdmin(ReadOnlyAdmin):
    """Rows are written by the daemon's sink and by backtests only."""

    list_display = ("id", "source", "lane", "run", "ticker", "entry_ts_ms", "label", "pnl",
                    "mfe", "mae", "exit_reason")  # fmt: skip
    list_filter = ("source", "lane", "label", "data_source")
    search_fields = ("position_uid", "ticker")


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    """Versions are written by ``train_gate`` only; the artifact is not shown."""

    list_display = ("id", "created_at", "source", "rows", "threshold", "active")
    list_filter = ("source", "active")
    exclude = ("artifact",)
