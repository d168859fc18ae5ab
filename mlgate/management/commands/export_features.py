"""manage.py export_features --csv FILE: the labelled trade-features rows as CSV (the format
``train_gate --source csv`` reads)."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from marketdata.management.commands.backfill_klines import parse_utc
from mlgate.selectors import SOURCES, feature_rows, write_csv


def epoch_ms(options: dict[str, Any], key: str) -> int | None:
    when = options[key]
    return None if when is None else int(when.timestamp() * 1000)


def lane_list(value: str) -> list[str]:
    return [lane.strip() for lane in value.split(",") if lane.strip()]


class Command(BaseCommand):
    help = "Write the trade-features rows (entry features, label, pnl, MFE, MAE) as CSV."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--csv", required=True, help="output file, - for stdout")
        parser.add_argument("--source", choices=SOURCES, default=None, help="default: all")
        parser.add_argument("--from", dest="start", type=parse_utc, default=None)
        parser.add_argument("--to", dest="end", type=parse_utc, default=None)
        parser.add_argument("--lanes", type=lane_list, default=[], help="comma-separated")
        parser.add_argument("--all", action="store_true", help="unlabelled rows too")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = feature_rows(
            source=options["source"],
            start_ms=epoch_ms(options, "start"),
            end_ms=epoch_ms(options, "end"),
            lanes=options["lanes"],
            labelled=not options["all"],
        )
        target = options["csv"]
        if target == "-":
            count = write_csv(rows.iterator(), sys.stdout)
        else:
            try:
                with Path(target).open("w", newline="") as out:
                    count = write_csv(rows.iterator(), out)
            except OSError as exc:
                raise CommandError(f"cannot write {target}: {exc}") from None
        self.stderr.write(f"{count} rows written to {target}")
