"""``manage.py walk_forward``: a walk-forward study (domain.md §4.4) on Celery workers or in
this process, resumable, with a progress bar; ``--json`` prints one object last."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from backtests import search
from backtests.management.options import add_data_options, data_fields
from backtests.models import WalkForwardStudy
from backtests.study import (
    Progress,
    StudyError,
    StudyRequest,
    celery_dispatch,
    run_study,
    study_create,
)
from backtests.wf_report import write_wf_report
from marketdata.management.commands.backfill_klines import parse_utc
from marketdata.recorder.rows import utc_to_ms


def space_option(value: str) -> str | dict[str, Any]:
    """A preset's name, or a JSON file ``{"name", "dimensions": {param: [values]}, "fixed"}``."""
    if value in search.PRESETS:
        return value
    path = Path(value)
    try:
        raw = json.loads(path.read_text())
        return search.Space.from_dict(raw).to_dict()
    except OSError as exc:
        raise CommandError(f"--space {value}: not a preset ({', '.join(search.PRESETS)}) "
                           f"and not a readable file: {exc.strerror}") from exc  # fmt: skip
    except (ValueError, KeyError, TypeError) as exc:
        raise CommandError(f"--space {value}: not a valid space: {exc}") from exc


class Command(BaseCommand):
    help = (
        "Walk-forward optimisation: parameter sets from an Optuna sampler, each batch run as "
        "research lanes of one pass, windows cut by time; stores the study and its result."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--start", type=parse_utc, help="UTC, inclusive")
        parser.add_argument("--end", type=parse_utc, help="UTC, exclusive")
        parser.add_argument("--train-days", type=float, default=36)
        parser.add_argument("--test-days", type=float, default=5)
        parser.add_argument("--step-days", type=float, default=5)
        parser.add_argument("--space", default="cli", help="cli, tuner, joint or a JSON file")
        parser.add_argument("--sampler", choices=search.SAMPLERS, default="grid")
        parser.add_argument("--trials", type=int, default=None, help="default: §4.4's rule")
        parser.add_argument("--batch-size", type=int, default=50)
        parser.add_argument("--spans", type=int, default=1, help="time spans run apart")
        parser.add_argument("--seed", type=int, default=1, help="sampler seed")
        parser.add_argument("--objective", default="sharpe")
        parser.add_argument("--min-trades", type=int, default=30)
        parser.add_argument("--base", choices=("default", "stored"), default="default")
        add_data_options(parser, seed_flag="--sim-seed")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--workers", action="store_true", help="fan out on Celery workers")
        mode.add_argument("--eager", action="store_true", help="run every task here (default)")
        parser.add_argument("--resume", type=int, default=None, help="continue study ID")
        parser.add_argument("--report", type=Path, default=None, help="write the HTML report")
        parser.add_argument("--json", action="store_true", help="one JSON object, last line")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["resume"] is not None:
            study = WalkForwardStudy.objects.filter(pk=options["resume"]).first()
            if study is None:
                raise CommandError(f"--resume {options['resume']}: no such study")
        else:
            if options["start"] is None or options["end"] is None:
                raise CommandError("--start and --end are required (or --resume ID)")
            try:
                request = StudyRequest(
                    start_ts=utc_to_ms(options["start"]),
                    end_ts=utc_to_ms(options["end"]),
                    train_days=options["train_days"],
                    test_days=options["test_days"],
                    step_days=options["step_days"],
                    space=space_option(options["space"]),
                    sampler=options["sampler"],
                    trials=options["trials"],
                    batch_size=options["batch_size"],
                    seed=options["seed"],
                    objective=options["objective"],
                    min_trades=options["min_trades"],
                    spans=options["spans"],
                    base=options["base"],
                    **data_fields(options, seed_flag="--sim-seed"),
                )
                study = study_create(request, requested_by="manage.py walk_forward")
            except StudyError as exc:
                raise CommandError(str(exc)) from exc
        bar = None
        if not options["no_progress"]:
            bar = tqdm(total=1000, desc=f"study {study.pk}", unit="‰", file=sys.stderr)

        def show(progress: Progress) -> None:
            if bar is None:
                return
            bar.n = round(progress.fraction * 1000)
            best = progress.best.get("train_score")
            bar.set_postfix(
                trials=f"{progress.trials_done}/{progress.trials_total}",
                tasks=f"{progress.tasks_done}/{progress.tasks_total}",
                best=None if best is None else round(best, 3),
                eta=None if progress.eta_s is None else f"{progress.eta_s:.0f}s",
            )

        try:
            study = run_study(
                study.pk,
                dispatch=celery_dispatch if options["workers"] else None,
                on_progress=show,
            )
        except StudyError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if bar is not None:
                bar.close()
        result = study.result
        if options["report"] is not None:
            write_wf_report(study, options["report"])
        lines = [
            f"study {study.pk}: {result['trials_evaluated']} parameter sets, "
            f"{len(result['windows'])} windows",
            f"edge consistency {result['edge_consistency']:.0%}; "
            + "; ".join(result["diagnosis"]["flags"]),
            f"recommendation: {result['recommendation']}",
            f"final parameters: {json.dumps(result['final_params'])}",
            f"data: {json.dumps(result['data'])}",
        ]
        if options["json"]:
            self.stderr.write("\n".join(lines))
            self.stdout.write(json.dumps(summary(study)))
        else:
            self.stdout.write("\n".join(lines))


def summary(study: WalkForwardStudy) -> dict[str, Any]:
    result = study.result
    return {
        "study": study.pk,
        "windows": result["windows"],
        "recommendation": result["recommendation"],
        "final_params": result["final_params"],
        "edge_consistency": result["edge_consistency"],
        "diagnosis": result["diagnosis"],
        "stability": result["stability"],
        "trials": result["trials_evaluated"],
        "data": result["data"],
    }
