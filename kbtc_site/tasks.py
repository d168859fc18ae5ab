"""Celery tasks of the site: thin wrappers over its services."""

from __future__ import annotations

from celery import shared_task

from kbtc_site.backups.services import backup_run
from kbtc_site.retention import retention_enforce


# pg_dump's own limit is 6 h (dumps.PG_TIMEOUT_S): the task's must not cut it shorter.
@shared_task(
    name="kbtc_site.backup_database",
    ignore_result=False,
    soft_time_limit=6 * 3600 + 300,
    time_limit=6 * 3600 + 600,
)
def backup_database() -> str:
    """The nightly backup; a failure is recorded (BackupRun) and raised for the worker log."""
    return backup_run().file_name


@shared_task(name="kbtc_site.enforce_retention")
def enforce_retention() -> int:
    """Archive and delete what is past its retention; returns the rows deleted."""
    report = retention_enforce()
    return report.events_deleted + report.book_snapshots_deleted + report.decisions_deleted
