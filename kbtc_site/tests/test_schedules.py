from __future__ import annotations

import pytest
from django.test import override_settings
from django_celery_beat.models import PeriodicTask

from kbtc_site.schedules import jobs, sync_schedules

pytestmark = pytest.mark.django_db


def test_seeding_twice_creates_each_job_once() -> None:
    assert len(sync_schedules()) == len(jobs())
    assert sync_schedules() == []
    assert PeriodicTask.objects.count() == len(jobs())


def test_seeding_keeps_an_operators_disable() -> None:
    sync_schedules()
    PeriodicTask.objects.filter(name=jobs()[0].name).update(enabled=False)
    sync_schedules()
    assert PeriodicTask.objects.get(name=jobs()[0].name).enabled is False


def test_the_backup_runs_daily_at_0330_utc_by_default() -> None:
    sync_schedules()
    crontab = PeriodicTask.objects.get(task="kbtc_site.backup_database").crontab
    assert crontab is not None
    assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("30", "3", "*")
    assert str(crontab.timezone) == "UTC"


def test_the_backup_time_follows_its_setting_on_the_next_sync(settings) -> None:
    sync_schedules()
    with override_settings(KBTC={**settings.KBTC, "BACKUP_SCHEDULE": "15 1 * * *"}):
        sync_schedules()
    crontab = PeriodicTask.objects.get(task="kbtc_site.backup_database").crontab
    assert (crontab.minute, crontab.hour) == ("15", "1")
