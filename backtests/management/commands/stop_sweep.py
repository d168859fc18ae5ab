"""``manage.py stop_sweep``: the hard stop at several values over one pass (research lanes,
stored as backtest runs) and the counterfactual against the base set's stop: which exits
each stop would have changed and the PnL difference; ``--report`` writes it as HTML."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.template.loader import render_to_string

from backtests.driver import DataGap, ParamSet
from backtests.request import BacktestRequest, RequestError, dollars_to_micros
from backtests.runner import backtest_run, summary
from backtests.sources import SourceError
from backtests.sweep import counterfactual
from marketdata.management.commands.backfill_klines import parse_utc
from marketdata.recorder.rows import ms_to_utc, utc_to_ms
from trading.engine.engine import DEFAULT_BANKROLL
from trading.engine.params import ParamError


def stops_option(value: str) -> list[float]:
    try:
        stops = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise CommandError(
            f"--stops must be fractions separated by commas, got {value!r}"
        ) from None
    if not stops:
        raise CommandError("--stops needs at least one value")
    return stops


class Command(BaseCommand):
    help = "Hard-stop sweep with its counterfactual against the base stop (one pass)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--start", required=True, type=parse_utc)
        parser.add_argument("--end", required=True, type=parse_utc)
        parser.add_argument("--stops", required=True, help="e.g. 0.01,0.03,0.05,0.10")
        parser.add_argument("--params", default="default", help="the base set (as backtest)")
        parser.add_argument(
            "--source", choices=("journal", "history", "archive"), default="history"
        )
        parser.add_argument("--history", default=None)
        parser.add_argument("--settled", type=Path, default=None)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--archive-dir", type=Path, default=None)
        parser.add_argument("--stream", default="journal")
        parser.add_argument("--bankroll", default=str(DEFAULT_BANKROLL / 1_000_000))
        parser.add_argument("--latency-ms", type=int, default=200)
        parser.add_argument("--max-gap-s", type=int, default=120)
        parser.add_argument("--report", type=Path, default=None)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        stops = stops_option(options["stops"])
        try:
            request = BacktestRequest(
                start_ts=utc_to_ms(options["start"]),
                end_ts=utc_to_ms(options["end"]),
                source=options["source"],
                history=options["history"],
                settled=str(options["settled"]) if options["settled"] else None,
                seed=options["seed"],
                archive_dir=str(options["archive_dir"]) if options["archive_dir"] else None,
                stream=options["stream"],
                params=options["params"],
                bankroll=dollars_to_micros(options["bankroll"]),
                latency_ms=options["latency_ms"],
                max_gap_s=options["max_gap_s"],
            )
            base = request.check()[0]
            sets = [ParamSet(f"base stop {base.params.stop_loss_frac:g}", base.params)]
            for stop in stops:
                if stop == base.params.stop_loss_frac:
                    continue
                sets.append(
                    ParamSet(f"stop {stop:g}", base.params.with_overrides({"stop_loss_frac": stop}))
                )
            source = request.source_of()
        except (RequestError, SourceError, ParamError) as exc:
            raise CommandError(str(exc)) from exc
        if len(sets) < 2:
            raise CommandError("--stops gives no stop other than the base set's")
        try:
            outcome = backtest_run(
                source, sets, lane=request.lane, bankroll=request.bankroll,
                latency_ms=request.latency_ms, start_ts=request.start_ts, end_ts=request.end_ts,
                max_gap_ms=request.max_gap_s * 1000,
            )  # fmt: skip
        except (DataGap, SourceError) as exc:
            raise CommandError(str(exc)) from exc
        base_run = outcome.runs[0]
        rows = []
        for run in outcome.runs[1:]:
            cf = counterfactual(base_run.sink.counted_trades, run.sink.counted_trades)
            rows.append({"run": summary(outcome, run), "counterfactual": cf})
            self.stdout.write(
                f"{run.name}: {cf['changed_count']} of {cf['matched']} matched exits changed "
                f"(PnL difference ${cf['changed_pnl_difference'] / 1e6:,.2f}); "
                f"{cf['only_base']} trades only at the base stop, {cf['only_alt']} only here; "
                f"net PnL difference ${cf['net_pnl_difference'] / 1e6:,.2f}"
            )
        result = {"base": summary(outcome, base_run), "stops": rows, "data": outcome.data}
        if options["report"] is not None:
            options["report"].write_text(
                render_to_string(
                    "backtests/stop_sweep_report.html",
                    {
                        "result": result,
                        "start": ms_to_utc(request.start_ts),
                        "end": ms_to_utc(request.end_ts),
                    },
                )
            )
        if options["json"]:
            self.stdout.write(json.dumps(result, sort_keys=True))
