"""``manage.py backfill_settled --series KXBTC15M --start --end``: Kalshi's markets settled
in ``[start, end)`` (real strike, result, volume) into the ``SettledMarket`` table, a day of
settlement time at a time; a re-run resumes after the last complete day (``--restart``
fetches the whole range again)."""

from __future__ import annotations

import asyncio
from argparse import ArgumentParser
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from kbtc_core.db import db_call
from marketdata.kalshi.errors import KalshiError
from marketdata.kalshi.rest import KalshiRestClient
from marketdata.management.commands.backfill_klines import parse_utc
from marketdata.settled import SettledMarket
from marketdata.settled_backfill import (
    SettledBackfillError,
    SettledBackfillResult,
    resume_from,
    settled_backfill,
    settled_store,
)


class Command(BaseCommand):
    help = (
        "Page Kalshi's settled markets of a series (GET /markets?status=settled, settled in "
        "[--start, --end)) from KALSHI_API_URL into the SettledMarket table. Resumable."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--series", default="KXBTC15M")
        parser.add_argument("--start", required=True, type=parse_utc, help="UTC, inclusive")
        parser.add_argument("--end", required=True, type=parse_utc, help="UTC, exclusive")
        parser.add_argument("--base-url", default=None, help="default: KALSHI_API_URL")
        parser.add_argument("--restart", action="store_true", help="ignore stored days")
        parser.add_argument("--page-size", type=int, default=1000, help="markets per page")

    def handle(self, *args: Any, **options: Any) -> None:
        start_ms = int(options["start"].timestamp() * 1000)
        end_ms = int(options["end"].timestamp() * 1000)
        if end_ms <= start_ms:
            raise CommandError("--end must be after --start")
        series = options["series"]
        if not 1 <= options["page_size"] <= 1000:
            raise CommandError("--page-size must be 1..1000")
        first = start_ms if options["restart"] else resume_from(series, start_ms, end_ms)
        base_url = options["base_url"] or settings.KBTC["KALSHI_API_URL"]
        try:
            result = asyncio.run(
                self._run(base_url, series, start_ms, end_ms, first, options["page_size"])
            )
        except (SettledBackfillError, KalshiError) as exc:
            raise CommandError(f"{exc} (stored days are kept; run again to resume)") from exc
        self.stdout.write(
            f"{series}: {result.stored} settled markets stored over {result.days} day(s) "
            f"from {base_url}; {result.skipped_days} day(s) already complete; "
            f"{result.unsettled} listed without a result (not stored)"
        )

    async def _run(
        self, base_url: str, series: str, start_ms: int, end_ms: int, first: int, page_size: int
    ) -> SettledBackfillResult:
        def store_day(series: str, markets: list[SettledMarket]) -> int:
            try:
                return settled_store(series=series, markets=markets)
            finally:
                connection.close()  # the ORM thread outlives this command (tests call it)

        write = db_call(store_day)

        def progress(day_ms: int, count: int) -> None:
            day = datetime.fromtimestamp(day_ms / 1000, tz=UTC)
            self.stdout.write(f"  {day:%Y-%m-%d}: {count} markets")

        # Public reads: no signature needed (interfaces.md §2), so no key is required.
        async with KalshiRestClient(base_url) as client:
            return await settled_backfill(
                client=client,
                series=series,
                start_ms=start_ms,
                end_ms=end_ms,
                store=write,
                first_day_ms=first,
                page_size=page_size,
                on_day=progress,
            )
