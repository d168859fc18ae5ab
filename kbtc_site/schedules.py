"""Periodic jobs run by Celery beat, stored in django-celery-beat's tables.

``sync_schedules`` writes these idempotently: it creates missing jobs and updates their
task and timing, but never touches ``enabled``, so an operator's toggle in the admin
survives every deploy.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks


@dataclass(frozen=True)
class Job:
    name: str
    task: str
    every_s: int


JOBS: tuple[Job, ...] = (Job("trader heartbeat watch", "trading.check_trader_heartbeat", 60),)


@transaction.atomic
def sync_schedules(jobs: tuple[Job, ...] = JOBS) -> list[str]:
    """Create or update each job; returns the names created."""
    created_names = []
    for job in jobs:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=job.every_s, period=IntervalSchedule.SECONDS
        )
        _, created = PeriodicTask.objects.update_or_create(
            name=job.name, defaults={"task": job.task, "interval": interval, "crontab": None}
        )
        if created:
            created_names.append(job.name)
    PeriodicTasks.update_changed()
    return created_names
