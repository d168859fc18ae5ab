"""Admin pages for recorded market data: browse and audit, never hand-edit the journal."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from marketdata.models import (
    Candle,
    Market,
    OrderBookSnapshot,
    PublicTradeRecord,
    RecordedEvent,
    RecordingSession,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the recorder or the importers: editing them would break replay."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RecordingSession)
class RecordingSessionAdmin(ReadOnlyAdmin):
    list_display = ["id", "label", "started_at", "ended_at", "recorded", "dropped"]
    list_filter = ["label"]
    date_hierarchy = "started_at"


@admin.register(RecordedEvent)
class RecordedEventAdmin(ReadOnlyAdmin):
    list_display = ["session", "seq", "ts", "kind", "ticker"]
    list_filter = ["kind"]
    search_fields = ["ticker"]
    date_hierarchy = "ts"
    list_select_related = ["session"]
    show_full_result_count = False  # counting millions of rows on every page is slow
    ordering = ["-session", "-seq"]


@admin.register(Candle)
class CandleAdmin(ReadOnlyAdmin):
    list_display = ["open_time", "source", "interval_s", "open", "high", "low", "close", "volume"]
    list_filter = ["source", "interval_s"]
    date_hierarchy = "open_time"
    show_full_result_count = False
    ordering = ["-open_time"]


@admin.register(OrderBookSnapshot)
class OrderBookSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["ts", "ticker", "best_yes_bid", "best_yes_ask", "yes_depth", "no_depth", "obi"]
    search_fields = ["ticker"]
    date_hierarchy = "ts"
    show_full_result_count = False
    ordering = ["-ts"]


@admin.register(PublicTradeRecord)
class PublicTradeRecordAdmin(ReadOnlyAdmin):
    list_display = ["ts", "ticker", "taker_side", "yes_price", "count", "trade_id"]
    list_filter = ["taker_side"]
    search_fields = ["ticker", "trade_id"]
    date_hierarchy = "ts"
    show_full_result_count = False
    ordering = ["-ts"]


@admin.register(Market)
class MarketAdmin(ReadOnlyAdmin):
    list_display = ["ticker", "status", "strike", "open_time", "close_time", "result", "fee_type"]
    list_filter = ["status", "result"]
    search_fields = ["ticker"]
    date_hierarchy = "close_time"
    ordering = ["-close_time"]
