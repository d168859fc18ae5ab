"""Tables of the site itself: operational records that belong to no trading concept."""

from __future__ import annotations

from django.db import models


class BackupKind(models.TextChoices):
    BACKUP = "backup", "Backup"
    DRILL = "drill", "Restore drill"


class BackupStatus(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "OK"
    FAILED = "failed", "Failed"


class BackupRun(models.Model):
    """One backup or restore drill: written when it starts, finished with its outcome, so a
    run that died half-way stays visible as ``running`` with no ``finished_at``."""

    kind = models.CharField(max_length=8, choices=BackupKind.choices)
    status = models.CharField(
        max_length=8, choices=BackupStatus.choices, default=BackupStatus.RUNNING
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    file_name = models.CharField(max_length=200, blank=True, help_text="in the backup folder")
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    remote_key = models.CharField(
        max_length=300, blank=True, help_text="the uploaded object's key; empty: not uploaded"
    )
    table_counts = models.JSONField(
        default=dict, blank=True, help_text="rows per table in the dump's snapshot"
    )
    message = models.TextField(blank=True, help_text="what failed, or the drill's mismatches")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["kind", "status", "-finished_at"], name="backuprun_kind")]

    def __str__(self) -> str:
        return f"{self.kind} {self.started_at:%Y-%m-%d %H:%M} {self.status}"
