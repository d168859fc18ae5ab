"""``manage.py chaos --kills N --hours H [--faults …] [--db-outage-s S]``: ``run_trader
--live`` against the simulator, killed with SIGKILL N times at each state (ENTERING, OPEN,
EXITING, settling, reconciling: ``trading.chaos.harness``) and restarted, optionally under
the simulator's faults and with its own database away for S wall seconds; then the
account checks (``trading.chaos.account``): no unexplained orphan, no duplicate order or
trade, no lost fill, the live bankroll equal to the exchange balance. Exits 1 on a failed
check."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading.management.commands.canary import add_run_arguments, run, run_options


class Command(BaseCommand):
    help = "Kill the live trader at each state against the simulator and check the account"

    def add_arguments(self, parser: CommandParser) -> None:
        add_run_arguments(parser)
        parser.add_argument("--kills", type=int, default=2, help="kills per state")
        parser.add_argument(
            "--db-outage-s", type=float, default=0.0, help="the trader's database away (wall s)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["kills"] < 0 or options["db_outage_s"] < 0:
            raise CommandError("--kills and --db-outage-s must not be negative")
        report = run(
            run_options(
                options, kills=options["kills"], outage_s=options["db_outage_s"], breakers_off=True
            ),
            self.stdout,
        )
        self.stdout.write(json.dumps(report.summary(), sort_keys=True))
        if report.failures:
            raise CommandError(
                f"chaos: {len(report.failures)} check(s) failed:\n  " + "\n  ".join(report.failures)
            )
