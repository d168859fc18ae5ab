"""The trader process's liveness row, touched every few seconds while it runs (wall time:
liveness is about the process, not the market's clock)."""

from __future__ import annotations

import os
import socket

from django.utils import timezone

from trading.models import TraderHeartbeat


def heartbeat_touch(*, process: str = "run_trader") -> None:
    now = timezone.now()
    updated = TraderHeartbeat.objects.filter(process=process, pid=os.getpid()).update(
        beat_at=now, stopped_at=None
    )
    if not updated:
        TraderHeartbeat.objects.update_or_create(
            process=process,
            defaults={
                "pid": os.getpid(),
                "hostname": socket.gethostname(),
                "started_at": now,
                "beat_at": now,
                "stopped_at": None,
            },
        )


def heartbeat_stop(*, process: str = "run_trader") -> None:
    TraderHeartbeat.objects.filter(process=process, pid=os.getpid()).update(
        stopped_at=timezone.now()
    )
