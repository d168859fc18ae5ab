"""``manage.py replay_parity --from --to``: replay the journal, compare with the store."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from backtests.paramsets import ParamFileError, param_sets
from backtests.parity import compare
from backtests.request import dollars_to_micros
from backtests.sources import SourceError
from marketdata.management.commands.backfill_klines import parse_utc
from marketdata.recorder.rows import utc_to_ms
from trading.engine.engine import DEFAULT_BANKROLL


class Command(BaseCommand):
    help = (
        "Replay the recorded journal of a paper session [--from, --to) through the daemon's "
        "session and compare its signal-log and trade rows with what the daemon stored: "
        "exit 0 and 'identical' with both hashes, or exit 1 naming the first difference."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--from", dest="start", required=True, type=parse_utc)
        parser.add_argument("--to", dest="end", required=True, type=parse_utc)
        parser.add_argument("--lanes", default="paper", help="comma-separated")
        parser.add_argument("--params", default="stored", help="'stored', 'default' or a file")
        parser.add_argument("--bankroll", default=str(DEFAULT_BANKROLL / 1_000_000))
        parser.add_argument("--latency-ms", type=int, default=200)

    def handle(self, *args: Any, **options: Any) -> None:
        start_ts, end_ts = utc_to_ms(options["start"]), utc_to_ms(options["end"])
        if end_ts <= start_ts:
            raise CommandError("--to must be after --from")
        lanes = tuple(name.strip() for name in options["lanes"].split(",") if name.strip())
        if not lanes:
            raise CommandError("--lanes names no lane")
        try:
            lane_params = {}
            for lane in lanes:  # "stored": each lane's own, as the daemon applied them
                (param_set, *more) = param_sets(options["params"], lane)
                if more:
                    raise ParamFileError("replay_parity takes one parameter set, the daemon's")
                lane_params[lane] = param_set.params
            comparisons, events = compare(
                start_ts,
                end_ts,
                params=lane_params,
                bankroll=dollars_to_micros(options["bankroll"]),
                latency_ms=options["latency_ms"],
            )
        except (ParamFileError, SourceError) as exc:
            raise CommandError(str(exc)) from exc
        differences = [c.first_difference() for c in comparisons]
        for comparison in comparisons:
            same = comparison.replayed_sha256 == comparison.stored_sha256
            self.stdout.write(
                f"{comparison.name}: {len(comparison.replayed)} replayed, "
                f"{len(comparison.stored)} stored; replay {comparison.replayed_sha256} "
                f"{'=' if same else '≠'} stored {comparison.stored_sha256}"
            )
        found = [d for d in differences if d is not None]
        if found:
            raise CommandError(f"replay differs from the store: {found[0]}", returncode=1)
        self.stdout.write(f"identical ({events} events replayed)")
