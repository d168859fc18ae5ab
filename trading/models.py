"""Models of the trading app."""

from __future__ import annotations

from django.db import models


class TraderHeartbeat(models.Model):
    """One row per trader process, touched every few seconds while it runs."""

    process = models.CharField(max_length=64, unique=True)
    pid = models.IntegerField()
    hostname = models.CharField(max_length=255)
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.process} pid {self.pid} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"
