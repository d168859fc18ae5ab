"""``manage.py canary --hours H --speed X [--faults …]``: the live lane against the simulator
(``trading.chaos.harness``: ``run_trader --live`` as a process on a stepped clock no faster
than X simulated seconds per wall second), then the promotion gates of domain.md §3.19
(``trading.chaos.gates``); exits 1 when a gate fails. With ``KALSHI_ENV=demo`` and a key it
runs on Kalshi's demo instead, H wall hours (``trading.chaos.demo``; other exchanges are
refused)."""

from __future__ import annotations

import asyncio
import json
import signal
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from marketdata.sim.faults import FaultConfig
from trading.chaos.demo import demo_refusal, run_demo
from trading.chaos.gates import Gate
from trading.chaos.harness import SEED, HarnessError, RunOptions, RunReport, run_live

T = TypeVar("T")


def add_run_arguments(parser: CommandParser) -> None:
    parser.add_argument("--hours", type=float, required=True, help="simulated hours")
    parser.add_argument(
        "--speed", type=float, default=600.0, help="at most this many simulated s per wall s"
    )
    parser.add_argument(
        "--step-s", type=int, default=30, help="clock step while no order is in flight"
    )
    parser.add_argument("--faults", default="", help="simulator faults, e.g. order_lost=0.05")
    parser.add_argument("--seed", type=int, default=SEED)


def run_options(options: dict[str, Any], **extra: Any) -> RunOptions:
    if not options["hours"] > 0 or not options["speed"] > 0 or options["step_s"] < 1:
        raise CommandError("--hours and --speed must be positive, --step-s at least 1")
    try:
        FaultConfig.parse(options["faults"])
    except ValueError as exc:
        raise CommandError(f"--faults: {exc}") from None
    redis = "redis" in settings.CACHES["default"]["BACKEND"].lower()
    if connection.vendor != "postgresql" or not redis:
        # The trader is another process: the harness reads its clock from the shared cache.
        raise CommandError("needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)")
    root = Path(settings.KBTC["DATA_DIR"])
    root.mkdir(parents=True, exist_ok=True)
    return RunOptions(
        data_dir=Path(tempfile.mkdtemp(prefix="live-run-", dir=root)),
        hours=options["hours"],
        speed=options["speed"],
        step_s=options["step_s"],
        seed=options["seed"],
        faults=options["faults"],
        **extra,
    )


def unwinding(run: Coroutine[Any, Any, T]) -> T:
    """Run the harness; a SIGTERM unwinds like Ctrl-C, so it kills the trader it started."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return asyncio.run(run)
    except HarnessError as exc:
        raise CommandError(str(exc)) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(options: RunOptions, out: Any) -> RunReport:
    out.write(f"live run in {options.data_dir} (the trader's log: run_trader.log)")
    return unwinding(run_live(options, say=out.write))


class Command(BaseCommand):
    help = "Run the live lane against the simulator and print the promotion gates"

    def add_arguments(self, parser: CommandParser) -> None:
        add_run_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.KBTC["KALSHI_ENV"]:
            gates = self._on_demo(options)
        else:
            report = run(run_options(options), self.stdout)
            gates = report.gates
            for gate in gates:
                self.stdout.write(gate.line())
            self.stdout.write(json.dumps(report.summary(), sort_keys=True))
        failed = [g.name for g in gates if not g.passed]
        if failed:
            raise CommandError(f"canary: {len(failed)} gate(s) failed: {', '.join(failed)}")

    def _on_demo(self, options: dict[str, Any]) -> list[Gate]:
        """``KALSHI_ENV`` names an exchange: the canary runs there (demo only), in wall time."""
        if not options["hours"] > 0:
            raise CommandError("--hours must be positive")
        refusal = demo_refusal()
        if refusal:
            raise CommandError(f"canary: {refusal}")
        data_dir = Path(settings.KBTC["DATA_DIR"])
        gates = unwinding(run_demo(options["hours"], data_dir, self.stdout.write))
        for gate in gates:
            self.stdout.write(gate.line())
        return gates
