from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from kbtc_site.schedules import jobs, sync_schedules


class Command(BaseCommand):
    help = "Create or update the Celery beat schedules (never changes 'enabled')."

    def handle(self, *args: Any, **options: Any) -> None:
        created = sync_schedules()
        if options["verbosity"] > 0:
            self.stdout.write(f"{len(jobs())} schedules in place, {len(created)} created")
