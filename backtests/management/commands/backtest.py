"""``manage.py backtest``: the engine over a recorded, historical or archived stretch."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from backtests.management.options import add_data_options, data_fields, data_line, pass_progress
from backtests.models import BacktestRun
from backtests.report import write_report
from backtests.request import BacktestRequest, RequestError
from backtests.runner import PassOutcome, backtest_run, summary
from backtests.sources import SourceError
from marketdata.management.commands.backfill_klines import parse_utc
from marketdata.recorder.rows import utc_to_ms
from mlgate.models import ModelVersion
from mlgate.predictor import GatePredictor
from mlgate.services import load_predictor


def ml_predictor(choice: str | None, *, below_floor: bool = False) -> GatePredictor | None:
    """The model a gated backtest uses; one that is missing or unusable stops the run (a
    backtest that silently fails open would report ungated results as gated)."""
    if choice is None:
        return None
    versions = ModelVersion.objects.all()
    if choice == "active":
        version = versions.filter(active=True).first()
    elif choice.isdigit():
        version = versions.filter(pk=int(choice)).first()
    else:
        raise CommandError(f"--ml-model must be a model version id or 'active', got {choice!r}")
    if version is None:
        raise CommandError(f"--ml-model {choice}: no such model version")
    predictor, error = load_predictor(version, below_floor=below_floor)
    if predictor is None:
        raise CommandError(f"--ml-model {choice}: {error}")
    return predictor


class Command(BaseCommand):
    help = (
        "Run the decision engine and the paper venue (the daemon's own session) over "
        "[--start, --end) of the recorded journal, a BTC history with simulated books, or "
        "the event archive; store the run(s) with trades, equity curve and metrics."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--start", required=True, type=parse_utc, help="UTC, inclusive")
        parser.add_argument("--end", required=True, type=parse_utc, help="UTC, exclusive")
        add_data_options(parser)
        parser.add_argument(
            "--params", default="default", help="'default', 'stored' or a .json/.toml file"
        )
        parser.add_argument("--lane", choices=("paper", "live"), default="paper")
        parser.add_argument(
            "--max-gap-s", type=int, default=120, help="longest stretch without events allowed"
        )
        parser.add_argument(
            "--ml-model",
            default=None,
            help="ML gate model version id, or 'active', for lanes with ml_gate_mode on",
        )
        parser.add_argument(
            "--ml-below-floor",
            action="store_true",
            help="evaluation: use an --ml-model whose OOS precision is below the floor",
        )
        parser.add_argument("--json", action="store_true", help="one JSON object, last line")
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument(
            "--report",
            type=Path,
            default=None,
            help="write the first set's HTML report to this file (with several sets, "
            "the others beside it as FILE-stem.<run id>.html)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["end"] <= options["start"]:
            raise CommandError("--end must be after --start")
        if options["latency_ms"] < 0 or options["max_gap_s"] <= 0:
            raise CommandError("--latency-ms must be >= 0 and --max-gap-s > 0")
        try:
            request = BacktestRequest(
                start_ts=utc_to_ms(options["start"]),
                end_ts=utc_to_ms(options["end"]),
                params=options["params"],
                lane=options["lane"],
                max_gap_s=options["max_gap_s"],
                **data_fields(options),
            )
            sets = request.check()
            source = request.source_of()
        except (RequestError, SourceError) as exc:
            raise CommandError(str(exc)) from exc
        start_ts, end_ts = request.start_ts, request.end_ts
        if options["ml_below_floor"] and options["ml_model"] is None:
            raise CommandError("--ml-below-floor needs --ml-model")
        predictor = ml_predictor(options["ml_model"], below_floor=options["ml_below_floor"])
        with pass_progress(
            start_ts,
            end_ts,
            desc=f"backtest {source.kind}",
            disabled=options["no_progress"],
            rate=True,
        ) as progress:
            outcome = backtest_run(
                source,
                sets,
                lane=request.lane,
                bankroll=request.bankroll,
                latency_ms=request.latency_ms,
                start_ts=start_ts,
                end_ts=end_ts,
                max_gap_ms=request.max_gap_s * 1000,
                on_progress=progress,
                predictor=predictor,
            )
        if options["report"] is not None:
            self._write_reports(outcome, options["report"])
        self._report(outcome, as_json=options["json"])

    def _write_reports(self, outcome: PassOutcome, path: Path) -> None:
        for index, run in enumerate(outcome.runs):
            target = (
                path if index == 0 else path.with_name(f"{path.stem}.{run.run_id}{path.suffix}")
            )
            try:
                write_report(BacktestRun.objects.get(pk=run.run_id), target)
            except OSError as exc:
                raise CommandError(f"run stored, but cannot write its report: {exc}") from exc
            self.stderr.write(f"report of run {run.run_id}: {target}")

    def _report(self, outcome: PassOutcome, *, as_json: bool) -> None:
        rows = [summary(outcome, run) for run in outcome.runs]
        data = outcome.data
        self.stdout.write(data_line(data, outcome.data_sha256))
        self.stdout.write(
            f"{outcome.events:,} events in {outcome.seconds:.1f} s "
            f"({outcome.events / max(outcome.seconds, 1e-9):,.0f}/s)"
        )
        for row in rows:
            pf = row["profit_factor"]
            self.stdout.write(
                f"run {row['run_id']} [{row['name']}]: {row['trades']} trades, "
                f"net ${row['net_pnl']:,.2f} (fees ${row['fees']:,.2f}), "
                f"win rate {row['win_rate']:.1%}, Sharpe {row['sharpe']:.2f}, "
                f"max DD {row['max_drawdown']:.1%}, "
                f"PF {'∞' if pf is None else f'{pf:.2f}'}, "
                f"{'passes' if row['passes_minimum'] else 'fails'} the minimum"
                + (f"; red flags: {'; '.join(row['red_flags'])}" if row["red_flags"] else "")
            )
        if as_json:
            last = dict(rows[0])
            if len(rows) > 1:
                last["runs"] = rows
            self.stdout.write(json.dumps(last, sort_keys=True))
