from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from kbtc_site.schedules import JOBS, sync_schedules

pytestmark = pytest.mark.django_db


def test_seeding_twice_creates_each_job_once() -> None:
    assert len(sync_schedules()) == len(JOBS)
    assert sync_schedules() == []
    assert PeriodicTask.objects.count() == len(JOBS)


def test_seeding_keeps_an_operators_disable() -> None:
    sync_schedules()
    PeriodicTask.objects.filter(name=JOBS[0].name).update(enabled=False)
    sync_schedules()
    assert PeriodicTask.objects.get(name=JOBS[0].name).enabled is False
