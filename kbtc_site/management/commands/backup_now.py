"""Back the database up now, exactly as the nightly beat job does (docs/runbooks/backups.md)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kbtc_site.backups.dumps import BackupError
from kbtc_site.backups.services import backup_run


class Command(BaseCommand):
    help = "Dump the database now (pg_dump -Fc, or SQLite's online backup), upload, prune."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = backup_run()
        except BackupError as exc:
            raise CommandError(f"backup failed: {exc}") from None
        where = f", uploaded as {run.remote_key}" if run.remote_key else ""
        self.stdout.write(
            f"backup {run.file_name}: {run.size_bytes} bytes, {len(run.table_counts)} tables{where}"
        )
