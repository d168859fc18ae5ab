"""Celery tasks of the attribution app: thin wrappers over its services."""

from __future__ import annotations

from celery import shared_task

from attribution.monitoring import live_health_check
from attribution.services import attribution_catch_up


@shared_task(name="attribution.attribute_days")
def attribute_days() -> int:
    """The daily job (00:05 UTC): every ended day not yet attributed, per lane, back-filled;
    returns how many day rows it wrote."""
    return len(attribution_catch_up(weeks=False).days)


@shared_task(name="attribution.attribute_weeks")
def attribute_weeks() -> int:
    """The weekly job (Sunday 00:10 UTC): every ended Sunday–Saturday week not yet
    attributed, with the drift rule; returns how many week rows it wrote."""
    return len(attribution_catch_up(days=False).weeks)


@shared_task(name="attribution.check_live_health")
def check_live_health() -> list[str]:
    """Hourly: signal health per lane and the live-health tripwires; the names that fired."""
    return live_health_check()
