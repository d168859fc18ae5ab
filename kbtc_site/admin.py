from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from kbtc_site.models import BackupRun


@admin.register(BackupRun)
class BackupRunAdmin(admin.ModelAdmin[BackupRun]):
    """Read-only: the rows are the jobs' own record of what they did."""

    list_display = ("started_at", "kind", "status", "file_name", "size_bytes", "remote_key")
    list_filter = ("kind", "status")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: BackupRun | None = None) -> bool:
        return False
