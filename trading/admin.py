from __future__ import annotations

from django.contrib import admin

from trading.models import TraderHeartbeat


@admin.register(TraderHeartbeat)
class TraderHeartbeatAdmin(admin.ModelAdmin[TraderHeartbeat]):
    list_display = ("process", "pid", "hostname", "started_at", "beat_at", "stopped_at")
    readonly_fields = ("process", "pid", "hostname", "started_at", "beat_at", "stopped_at")
