"""``manage.py backfill_klines --start --end``: Binance 1-minute klines into ``Candle``."""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from marketdata.history.backfill import MINUTE_MS, BackfillError, backfill
from marketdata.history.klines import KlineFormatError
from marketdata.models import Candle
from marketdata.recorder.rows import utc_to_ms


def parse_utc(value: str) -> datetime:
    """``2026-03-01`` or ``2026-03-01T12:30`` (UTC unless an offset is given)."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not an ISO date or time: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Fetch closed 1-minute BTCUSDT klines in [--start, --end) from BINANCE_API_URL "
        "(/api/v3/klines) into the candle table, with their 15-minute roll-ups. Idempotent."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--start", required=True, type=parse_utc, help="UTC, inclusive")
        parser.add_argument("--end", required=True, type=parse_utc, help="UTC, exclusive")
        parser.add_argument("--symbol", default="BTCUSDT")
        parser.add_argument("--source", default=Candle.SOURCE_BINANCE)
        parser.add_argument("--base-url", default=None, help="default: BINANCE_API_URL")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        start_ms, end_ms = utc_to_ms(options["start"]), utc_to_ms(options["end"])
        if end_ms <= start_ms:
            raise CommandError("--end must be after --start")
        base_url = options["base_url"] or settings.ENV.binance_api_url
        total = (end_ms - start_ms) // MINUTE_MS
        with tqdm(total=total, unit="bar", disable=options["no_progress"]) as bar:
            try:
                result = backfill(
                    base_url=base_url,
                    start_ms=start_ms,
                    end_ms=end_ms,
                    symbol=options["symbol"],
                    source=options["source"],
                    on_page=bar.update,
                )
            except (BackfillError, KlineFormatError) as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"fetched {result.fetched} closed 1-minute bars in {result.pages} pages: "
            f"{result.inserted} new, {result.quarter_bars_written} 15-minute bars written"
        )
