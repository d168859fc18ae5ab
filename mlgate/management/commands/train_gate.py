"""manage.py train_gate: train the entry gate's model on labelled rows and store it as a
version (domain.md §7.3; time-ordered validation, see ``mlgate.training``)."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from marketdata.management.commands.backfill_klines import parse_utc
from mlgate import services
from mlgate.management.commands.export_features import epoch_ms, lane_list
from mlgate.selectors import CsvError, feature_rows, read_csv, training_rows
from mlgate.training import MIN_PRECISION, TrainingError, train

LIVE_MIN_ROWS = 50  # §7.3: a live-only model needs at least this many rows


class Command(BaseCommand):
    help = "Train the XGBoost entry gate and store the model version in the database."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--source", choices=("paper", "live", "backtest", "csv"), required=True)
        parser.add_argument("--csv", type=Path, default=None, help="with --source csv")
        parser.add_argument("--from", dest="start", type=parse_utc, default=None)
        parser.add_argument("--to", dest="end", type=parse_utc, default=None)
        parser.add_argument("--lanes", type=lane_list, default=[], help="comma-separated")
        parser.add_argument(
            "--activate", action="store_true", help="make it the model the daemon loads"
        )
        parser.add_argument("--json", action="store_true", help="one JSON object, last line")

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["source"]
        start, end = epoch_ms(options, "start"), epoch_ms(options, "end")
        if start is not None and end is not None and end <= start:
            raise CommandError("--to must be after --from")
        if source == "csv":
            path = options["csv"]
            if path is None:
                raise CommandError("--source csv needs --csv FILE")
            try:
                with path.open(newline="") as stream:
                    rows = read_csv(stream, start_ms=start, end_ms=end, lanes=options["lanes"])
            except OSError as exc:
                raise CommandError(f"cannot read {path}: {exc}") from None
            except CsvError as exc:
                raise CommandError(f"{path}: {exc}") from None
        else:
            if options["csv"] is not None:
                raise CommandError("--csv is only for --source csv")
            rows = training_rows(
                feature_rows(source=source, start_ms=start, end_ms=end, lanes=options["lanes"])
            )
        if source == "live" and len(rows) < LIVE_MIN_ROWS:
            raise CommandError(f"{len(rows)} live rows: a live model needs {LIVE_MIN_ROWS}")
        try:
            result = train(rows)
        except TrainingError as exc:
            raise CommandError(str(exc)) from None
        m = result.metrics
        activate = options["activate"]
        if activate and m["oos_precision"] < MIN_PRECISION:
            # BUG-033: the daemon refuses a model below the floor; so does activation.
            self.stderr.write(
                f"not activated: time-ordered OOS precision {m['oos_precision']:.3f} "
                f"is below {MIN_PRECISION}"
            )
            activate = False
        version = services.save_model(
            result, source=source, lanes=options["lanes"], activate=activate
        )
        self.stdout.write(
            f"model {version.pk}: {result.rows} rows ({source}), win rate {m['win_rate']:.1%}, "
            f"threshold {result.threshold:.3f}; time-ordered OOS precision "
            f"{m['oos_precision']:.3f} recall {m['oos_recall']:.3f} ({m['oos_rows']} rows); "
            f"shuffled 5-fold (leaks the future) precision {m['shuffled_precision']:.3f} "
            f"recall {m['shuffled_recall']:.3f}" + ("; active" if version.active else "")
        )
        top = ", ".join(f"{k} {v:.2f}" for k, v in list(result.importances.items())[:5])
        self.stdout.write(f"importances: {top}")
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        if options["json"]:
            summary = {
                "model": version.pk,
                "rows": result.rows,
                "threshold": result.threshold,
                "features_hash": result.features_hash,
                "metrics": m,
                "importances": result.importances,
                "warnings": result.warnings,
                "active": version.active,
            }
            self.stdout.write(json.dumps(summary, sort_keys=True))
