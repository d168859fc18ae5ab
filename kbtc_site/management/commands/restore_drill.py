"""Prove the newest backup restores: restore it into a scratch database and compare every
table's row count with the dump's manifest. Exits non-zero on any mismatch or failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kbtc_site.backups.dumps import BackupError
from kbtc_site.backups.services import backup_restore_drill
from kbtc_site.models import BackupStatus


class Command(BaseCommand):
    help = "Restore the newest dump into a scratch database and compare row counts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--file", type=Path, help="a dump with its .json manifest beside it (default: newest)"
        )

    def handle(self, *args: Any, file: Path | None, **options: Any) -> None:
        try:
            run = backup_restore_drill(dump=file)
        except BackupError as exc:
            raise CommandError(f"restore drill failed: {exc}") from None
        if run.status != BackupStatus.OK:
            raise CommandError(
                f"restore drill of {run.file_name}: row counts differ\n{run.message}"
            )
        self.stdout.write(f"restore drill of {run.file_name}: {run.message}")
