"""Celery tasks of the site: thin wrappers over its services."""

from __future__ import annotations

from celery import shared_task

from kbtc_site.backups.services import backup_run


@shared_task(name="kbtc_site.backup_database", ignore_result=False)
def backup_database() -> str:
    """The nightly backup; a failure is recorded (BackupRun) and raised for the worker log."""
    return backup_run().file_name
