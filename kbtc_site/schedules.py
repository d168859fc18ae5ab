"""Periodic jobs run by Celery beat, stored in django-celery-beat's tables.

``sync_schedules`` writes these idempotently: it creates missing jobs and updates their
task and timing, but never touches ``enabled``, so an operator's toggle in the admin
survives every deploy.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import (
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTasks,
)


@dataclass(frozen=True)
class Job:
    """Every ``every_s`` seconds, or at the times of ``crontab`` (5 fields, UTC)."""

    name: str
    task: str
    every_s: int | None = None
    crontab: str | None = None


def jobs() -> tuple[Job, ...]:
    # The backup's time is a setting (KBTC_BACKUP_SCHEDULE): an edit in the admin lasts
    # until the next sync_schedules, which writes the setting's time back.
    return (
        Job("trader heartbeat watch", "trading.check_trader_heartbeat", every_s=60),
        Job("data retention", "kbtc_site.enforce_retention", every_s=3600),
        Job("stale backtest sweep", "backtests.sweep_stale_backtests", every_s=60),
        # domain.md §4.5: TUNING_INTERVAL_HOURS = 6; a recommendation only, never applied
        Job("auto-tuner", "backtests.auto_tune", every_s=6 * 3600),
        Job(
            "database backup",
            "kbtc_site.backup_database",
            crontab=settings.KBTC["BACKUP_SCHEDULE"],
        ),
        # Each pass back-fills what earlier passes missed (attribution.services).
        Job("daily attribution", "attribution.attribute_days", crontab="5 0 * * *"),
        Job("weekly attribution", "attribution.attribute_weeks", crontab="10 0 * * 0"),
        Job("signal health and tripwires", "attribution.check_live_health", every_s=3600),
        # The ML gate (domain.md §7.3): weekly retrain with the promotion gate; readiness.
        Job("weekly ML gate retrain", "mlgate.retrain_gate", crontab="0 4 * * 0"),
        Job("ML readiness check", "mlgate.check_ml_ready", every_s=3600),
    )


def _timing(job: Job) -> dict[str, object]:
    if job.crontab is not None:
        minute, hour, day_of_month, month_of_year, day_of_week = job.crontab.split()
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
            timezone="UTC",
        )
        return {"crontab": crontab, "interval": None}
    if job.every_s is None:
        raise ValueError(f"job {job.name!r} has neither every_s nor crontab")
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=job.every_s, period=IntervalSchedule.SECONDS
    )
    return {"interval": interval, "crontab": None}


@transaction.atomic
def sync_schedules(wanted: tuple[Job, ...] | None = None) -> list[str]:
    """Create or update each job; returns the names created."""
    created_names = []
    for job in jobs() if wanted is None else wanted:
        _, created = PeriodicTask.objects.update_or_create(
            name=job.name, defaults={"task": job.task, **_timing(job)}
        )
        if created:
            created_names.append(job.name)
    PeriodicTasks.update_changed()
    return created_names
