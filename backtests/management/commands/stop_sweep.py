"""``manage.py stop_sweep``: hard-stop values as research lanes of one pass beside the
baseline, with the counterfactual of each (``backtests.sweep``)."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from backtests.management.options import add_data_options, data_fields, data_line, pass_progress
from backtests.request import BacktestRequest, RequestError
from backtests.sources import SourceError
from backtests.sweep import (
    SweepError,
    parse_stops,
    stop_sets,
    stop_sweep,
    sweep_summary,
    write_sweep_report,
)
from marketdata.management.commands.backfill_klines import parse_utc
from marketdata.recorder.rows import utc_to_ms


class Command(BaseCommand):
    help = (
        "Run hard-stop values (stop_loss_frac) as research lanes of one pass beside the "
        "baseline parameters over [--start, --end) and report, per stop, its trades, win "
        "rate, net PnL and fees and which exits changed against the baseline with the PnL "
        "difference. Every run is stored; --report writes the sweep's HTML report."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--start", required=True, type=parse_utc, help="UTC, inclusive")
        parser.add_argument("--end", required=True, type=parse_utc, help="UTC, exclusive")
        parser.add_argument(
            "--stops", required=True, help="comma-separated stop fractions, e.g. 0.01,0.02,0.03"
        )
        add_data_options(parser)
        parser.add_argument(
            "--params",
            default="stored",
            help="the baseline: 'stored' (defaults with the stored overrides, the default), "
            "'default', or a .json/.toml file with one set",
        )
        parser.add_argument(
            "--max-gap-s", type=int, default=120, help="longest stretch without events allowed"
        )
        parser.add_argument("--json", action="store_true", help="one JSON object, last line")
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument("--report", type=Path, default=None, help="write the HTML report here")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["end"] <= options["start"]:
            raise CommandError("--end must be after --start")
        try:
            stops = parse_stops(options["stops"])
            request = BacktestRequest(
                start_ts=utc_to_ms(options["start"]),
                end_ts=utc_to_ms(options["end"]),
                params=options["params"],
                max_gap_s=options["max_gap_s"],
                **data_fields(options),
            )
            sets = request.check()
            if len(sets) != 1:
                raise SweepError(
                    f"--params {options['params']}: the baseline is one parameter set, "
                    f"the file has {len(sets)}"
                )
            stop_sets(sets[0].params, stops)  # every stop checked before reading any data
            source = request.source_of()
        except (RequestError, SourceError, SweepError) as exc:
            raise CommandError(str(exc)) from exc
        if options["report"] is not None and not options["report"].parent.is_dir():
            raise CommandError(f"--report: no such directory {options['report'].parent}")
        start_ts, end_ts = request.start_ts, request.end_ts
        with pass_progress(
            start_ts, end_ts, desc=f"stop sweep {source.kind}", disabled=options["no_progress"]
        ) as progress:
            sweep = stop_sweep(
                source,
                sets[0].params,
                stops,
                bankroll=request.bankroll,
                latency_ms=request.latency_ms,
                start_ts=start_ts,
                end_ts=end_ts,
                max_gap_ms=request.max_gap_s * 1000,
                on_progress=progress,
            )
        result = sweep_summary(sweep)
        if options["report"] is not None:
            try:
                write_sweep_report(sweep, options["report"])
            except OSError as exc:
                raise CommandError(f"runs stored, but cannot write the report: {exc}") from exc
            self.stderr.write(f"stop sweep report: {options['report']}")
        self._report(result, as_json=options["json"])

    def _report(self, result: dict[str, Any], *, as_json: bool) -> None:
        data = result["data"]
        self.stdout.write(data_line(data, data["sha256"]))
        base = result["baseline"]
        self.stdout.write(
            f"baseline (stop {base['stop']}, run {base['run_id']}): {base['trades']} trades, "
            f"win rate {base['win_rate']:.1%}, net ${base['net_pnl']:,.2f} "
            f"(fees ${base['fees']:,.2f})"
        )
        for row in result["stops"]:
            self.stdout.write(
                f"stop {row['stop']} (run {row['run_id']}): {row['trades']} trades, "
                f"win rate {row['win_rate']:.1%}, net ${row['net_pnl']:,.2f} "
                f"(fees ${row['fees']:,.2f}); vs baseline {row['pnl_diff']:+,.2f} $: "
                f"{row['changed_exits']} exits changed ({row['changed_pnl_diff']:+,.2f} $), "
                f"{row['only_variant']} trades only here, {row['only_baseline']} only in the "
                f"baseline"
            )
        if as_json:
            self.stdout.write(json.dumps(result, sort_keys=True))
