"""Reads of trading state for views, the API and health checks."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from trading.models import TraderHeartbeat


def trader_heartbeat(process: str = "run_trader") -> dict[str, Any]:
    """The trader's liveness as the dashboard and ``/healthz`` report it."""
    beat = TraderHeartbeat.objects.filter(process=process).first()
    if beat is None or beat.stopped_at is not None:
        return {"state": "not running"}
    age_s = (timezone.now() - beat.beat_at).total_seconds()
    state = "running" if age_s <= settings.KBTC["HEARTBEAT_STALE_S"] else "stale"
    return {
        "state": state,
        "pid": beat.pid,
        "hostname": beat.hostname,
        "beat_at": beat.beat_at.isoformat(),
        "age_s": round(age_s, 1),
    }
