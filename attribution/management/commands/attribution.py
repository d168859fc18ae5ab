"""Attribute a day or a week by hand, or run the jobs' catch-up pass (domain.md §5.2)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from attribution.services import (
    attribution_catch_up,
    attribution_day_compute,
    attribution_week_compute,
    week_start_of,
)
from trading.models import Lane


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"expected a date YYYY-MM-DD, got {text!r}") from exc


class Command(BaseCommand):
    help = (
        "Attribute one UTC day (--date) or the Sunday–Saturday week holding a date (--week),"
        " per lane (--lane, default both); without either, every ended day and week that is"
        " missing, as the scheduled jobs do."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        when = parser.add_mutually_exclusive_group()
        when.add_argument("--date", help="YYYY-MM-DD: trades that exited that UTC day")
        when.add_argument("--week", help="YYYY-MM-DD: the Sunday–Saturday week holding it")
        parser.add_argument("--lane", choices=Lane.values)

    def handle(self, *args: Any, **options: Any) -> None:
        lanes = (options["lane"],) if options["lane"] else tuple(Lane.values)
        if options["date"]:
            day = _date(options["date"])
            for lane in lanes:
                row, _ = attribution_day_compute(lane=lane, day=day)
                self.stdout.write(
                    f"{lane} {day}: {row.total_trades} trades, net ${row.total_pnl:.2f},"
                    f" fees ${row.total_fees:.2f}"
                )
        elif options["week"]:
            week = week_start_of(_date(options["week"]))
            for lane in lanes:
                weekly, _ = attribution_week_compute(lane=lane, week_start=week)
                flipped = ", ".join(f"{f['dimension']} {f['name']}" for f in weekly.flipped)
                self.stdout.write(
                    f"{lane} week {week} – {week + dt.timedelta(days=6)}:"
                    f" {weekly.total_trades} trades, net ${weekly.total_pnl:.2f},"
                    f" flipped: {flipped or 'none'}"
                )
        else:
            done = attribution_catch_up(lanes=lanes)
            self.stdout.write(
                f"caught up to {done.now:%Y-%m-%d %H:%M} UTC:"
                f" {len(done.days)} day rows, {len(done.weeks)} week rows written"
            )
