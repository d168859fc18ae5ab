"""``backfill_settled``'s work: Kalshi's settled markets of a series, day by day, into the
``SettledMarket`` table (services), and that table as the simulator's settlements (selector).

Days are of settlement time, the one time filter Kalshi takes with ``status=settled``
(exchange-protocols.md §1.4). Resumable: each UTC day's markets are written in one
transaction after all its pages are read, so the latest stored settlement inside the range
ends a complete day and a re-run starts with the day after it. Pacing and retries (429,
5xx) are the REST client's token buckets and backoff (exchange-protocols.md §1.6).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from marketdata.kalshi.rest import KalshiRestClient
from marketdata.models import SettledMarket as SettledRow
from marketdata.settled import (
    SettledFileError,
    SettledMarket,
    SettledMarkets,
    load_settled,
    settled_from_market_json,
)

# The series the simulator lists (marketdata.sim.schedule.SERIES): what its settled table
# stands for when the setting says "table".
SIMULATED_SERIES = "KXBTC15M"
DAY_MS = 86_400_000


class SettledBackfillError(Exception):
    """A listing the back-fill cannot store (the message names the market)."""


@dataclass
class SettledBackfillResult:
    days: int = 0  # days fetched this run
    skipped_days: int = 0  # days a previous run had completed
    stored: int = 0  # markets written (new or refreshed)
    unsettled: int = 0  # listed as settled but without a result yet: not stored


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _dollars(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(cents) / 100


def resume_from(series: str, start_ms: int, end_ms: int) -> int:
    """The first day to fetch: the day after the latest stored settlement in the range."""
    latest = (
        SettledRow.objects.filter(
            series=series, settlement_time__gte=_dt(start_ms), settlement_time__lt=_dt(end_ms)
        )
        .order_by("-settlement_time")
        .values_list("settlement_time", flat=True)
        .first()
    )
    if latest is None:
        return start_ms
    day = _ms(latest) - (_ms(latest) - start_ms) % DAY_MS
    return min(end_ms, day + DAY_MS)


def settled_store(*, series: str, markets: list[SettledMarket]) -> int:
    with transaction.atomic():
        for market in markets:
            SettledRow.objects.update_or_create(
                ticker=market.ticker,
                defaults={
                    "series": series,
                    "open_time": _dt(market.open_ts),
                    "close_time": _dt(market.close_ts),
                    "floor_strike": _dollars(market.strike_cents),
                    "expiration_value": _dollars(market.expiration_cents),
                    "result": market.result or "",
                    "volume": None if market.volume is None else Decimal(market.volume) / 100,
                    "settlement_time": _dt(market.settled_ts or market.close_ts),
                },
            )
    return len(markets)


def _parse(market: dict[str, Any]) -> SettledMarket:
    try:
        parsed = settled_from_market_json(market)
    except (ValueError, ArithmeticError) as exc:
        raise SettledBackfillError(f"{market.get('ticker')!r}: {exc}") from None
    if parsed.settled_ts is None:
        raise SettledBackfillError(f"{parsed.ticker}: listed as settled without settlement_ts")
    return parsed


async def _historical(
    client: KalshiRestClient, series: str, low: int, high: int, page_size: int
) -> dict[int, list[SettledMarket]]:
    """Markets settled in ``[low, high)`` from the historical tier, by UTC day of
    ``low``'s grid. It has no time filter and lists newest first: read until a whole page
    is older than ``low``."""
    by_day: dict[int, list[SettledMarket]] = {}
    async for page in client.historical_market_pages(series_ticker=series, limit=page_size):
        older = 0
        for market in page:
            parsed = _parse(market)
            settled = parsed.settled_ts or 0
            if settled < low:
                older += 1
            elif settled < high:
                day = settled - (settled - low) % DAY_MS
                by_day.setdefault(day, []).append(parsed)
        if page and older == len(page):
            break
    return by_day


async def settled_backfill(
    *,
    client: KalshiRestClient,
    series: str,
    start_ms: int,
    end_ms: int,
    store: Callable[[str, list[SettledMarket]], Awaitable[object]],
    first_day_ms: int | None = None,
    page_size: int = 1000,
    on_day: Callable[[int, int], None] = lambda day_ms, count: None,
) -> SettledBackfillResult:
    """Fetch markets settled in ``[start, end)`` a day at a time from ``first_day_ms``;
    ``store(series, markets)`` writes one day (``settled_store`` through ``db_call``).

    Kalshi keeps markets settled before its historical cutoff only under
    ``/historical/markets``; days before the cutoff come from there (one newest-first
    pass), later ones from ``/markets?status=settled``; a day across the cutoff from both,
    deduplicated by ticker (the tiers overlap, protocols §1.4).
    """
    result = SettledBackfillResult()
    day = start_ms if first_day_ms is None else first_day_ms
    result.skipped_days = (day - start_ms + DAY_MS - 1) // DAY_MS
    cutoff = await client.get_historical_cutoff() if day < end_ms else 0
    historical: dict[int, list[SettledMarket]] = {}
    if day < min(cutoff, end_ms):
        historical = await _historical(client, series, day, min(cutoff, end_ms), page_size)
    while day < end_ms:
        last = min(day + DAY_MS, end_ms)
        found = {m.ticker: m for m in historical.pop(day, [])}
        if last > cutoff:
            # Kalshi's time bounds are whole seconds, inclusive: [day, last - 1 s].
            objects = await client.list_market_objects(
                series_ticker=series,
                status="settled",
                min_settled_ts=day // 1000,
                max_settled_ts=(last - 1) // 1000,
                limit=page_size,
            )
            for market in objects:
                parsed = _parse(market)
                if not day <= (parsed.settled_ts or 0) < last:
                    raise SettledBackfillError(
                        f"{parsed.ticker}: not settled inside the requested day {_dt(day):%Y-%m-%d}"
                    )
                found[parsed.ticker] = parsed
        markets = [m for m in found.values() if m.result is not None]
        result.unsettled += len(found) - len(markets)
        markets.sort(key=lambda m: m.close_ts)
        await store(series, markets)
        result.stored += len(markets)
        result.days += 1
        on_day(day, len(markets))
        day = last
    return result


def settled_from_table(series: str) -> SettledMarkets:
    """The stored settled markets of a series, for the simulator (``--settled table``)."""
    markets = [
        SettledMarket(
            ticker=row.ticker,
            open_ts=_ms(row.open_time),
            close_ts=_ms(row.close_time),
            strike_cents=None if row.floor_strike is None else int(row.floor_strike * 100),
            expiration_cents=(
                None if row.expiration_value is None else int(row.expiration_value * 100)
            ),
            result="yes" if row.result == "yes" else "no" if row.result == "no" else None,
            volume=None if row.volume is None else int(row.volume * 100),
            settled_ts=_ms(row.settlement_time),
        )
        for row in SettledRow.objects.filter(series=series).order_by("close_time")
    ]
    if not markets:
        raise SettledFileError(f"no {series} markets in the SettledMarket table: backfill_settled")
    return SettledMarkets(markets, source=f"table SettledMarket ({series})")


def settled_source(value: object) -> SettledMarkets | None:
    """``KBTC_SETTLED`` / ``--settled``: unset → None, ``table`` → the back-filled table,
    else a settled-markets CSV. Raises ``SettledFileError`` naming what is wrong."""
    if not value:
        return None
    if str(value) == "table":
        return settled_from_table(SIMULATED_SERIES)
    return load_settled(str(value))
