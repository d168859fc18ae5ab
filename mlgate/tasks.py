"""Celery tasks of the ML gate: thin wrappers over its services."""

from __future__ import annotations

from celery import shared_task

from mlgate.promotion import retrain
from mlgate.services import readiness_check


@shared_task(name="mlgate.retrain_gate")
def retrain_gate(source: str = "paper") -> dict[str, object]:
    """The weekly retrain (Sunday 04:00 UTC) with §7.3's promotion gate; the log row."""
    entry = retrain(source=source)
    return {"promoted": entry.promoted, "reason": entry.reason, "candidate": entry.candidate_id}


@shared_task(name="mlgate.check_ml_ready")
def check_ml_ready() -> bool:
    """Hourly: the one-shot ML-readiness notification (500 labelled paper rows)."""
    return readiness_check()
