"""``manage.py backtest_report RUN_ID FILE``: a stored run's HTML report, written to a file."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from backtests.models import BacktestRun
from backtests.report import write_report


class Command(BaseCommand):
    help = "Write the HTML report of a stored backtest run (self-contained, no script) to FILE."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("run_id", type=int)
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = BacktestRun.objects.get(pk=options["run_id"])
        except BacktestRun.DoesNotExist:
            raise CommandError(f"no backtest run {options['run_id']}") from None
        try:
            write_report(run, options["file"])
        except OSError as exc:
            raise CommandError(f"cannot write the report: {exc}") from exc
        self.stdout.write(f"report of run {run.pk} written to {options['file']}")
