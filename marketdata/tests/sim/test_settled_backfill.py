"""``backfill_settled`` against the simulator's settled listing: every settled window of the
range stored with the simulator's strike and result, paged with cursors, resumable, and
readable back as the simulator's settlements (``--settled table``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command
from django.db import connections

from marketdata.models import SettledMarket
from marketdata.settled import SOURCE_FILE, SettledFileError
from marketdata.settled_backfill import settled_from_table
from marketdata.sim.schedule import SERIES, WINDOW_S
from marketdata.sim.testing import running_simulator
from marketdata.sim.wire import iso as wire_iso

pytestmark = pytest.mark.django_db(transaction=True)

DAY_MS = 86_400_000
RANGE_START = datetime(2024, 12, 27, tzinfo=UTC)  # the simulator's path starts 12-25 00:07
RANGE_END = datetime(2024, 12, 31, tzinfo=UTC)


def command(sim, start: datetime, end: datetime, *extra: str) -> str:
    out = StringIO()
    try:
        call_command(
            "backfill_settled", "--series", SERIES, "--start", start.isoformat(),
            "--end", end.isoformat(), "--base-url", sim.kalshi_api_url, "--page-size", "40",
            *extra, stdout=out,
        )  # fmt: skip
    finally:
        connections.close_all()
    return out.getvalue()


def stored() -> list[tuple[str, int, Decimal | None, str]]:
    try:
        return [
            (row.ticker, int(row.close_time.timestamp() * 1000), row.floor_strike, row.result)
            for row in SettledMarket.objects.order_by("close_time")
        ]
    finally:
        connections.close_all()


async def test_settled_markets_are_readable_long_after_close_and_listed_with_cursors():
    async with running_simulator() as sim:
        schedule = sim.exchange.core.schedule
        old = schedule.market(int(RANGE_START.timestamp() * 1000))
        async with httpx.AsyncClient(base_url=sim.kalshi_api_url) as client:
            one = (await client.get(f"/markets/{old.ticker}")).json()["market"]
            pages, cursor = [], None
            while True:
                params: dict[str, Any] = {"series_ticker": SERIES, "status": "settled"}
                params |= {"limit": 200, "cursor": cursor}
                body = (await client.get("/markets", params=params)).json()
                pages.append(body["markets"])
                cursor = body["cursor"] or None
                if cursor is None:
                    break
            other = await client.get("/markets", params={"series_ticker": "KXETH15M"})
            day = int(RANGE_START.timestamp())
            one_day = (
                await client.get(
                    "/markets",
                    params={
                        "status": "settled",
                        "min_settled_ts": day,
                        "max_settled_ts": day + 86_399,
                        "limit": 1000,
                    },
                )
            ).json()["markets"]
            mixed = await client.get("/markets", params={"status": "settled", "min_close_ts": day})
            missing = await client.get("/markets/KXBTC15M-20JAN010000-00")
    assert (one["status"], one["result"], one["floor_strike"]) == (
        "finalized",
        old.result,
        old.strike,
    )
    listed = [m for page in pages for m in page]
    assert len(pages) > 1
    assert all(m["status"] == "finalized" for m in listed)
    closes = [m["close_time"] for m in listed]
    assert closes == sorted(closes, reverse=True)
    assert len(set(closes)) == len(closes)
    assert len(listed) >= 6 * 96  # the week of path before the start, less its first hour
    assert other.json()["markets"] == []
    # A day of settlement time: settled 6 s after close, so closes 00:00 .. 23:45.
    assert len(one_day) == 96
    assert one_day[-1]["close_time"] == "2024-12-27T00:00:00Z"
    assert mixed.status_code == 400  # Kalshi: close filters go with status=closed only
    assert missing.status_code == 404


async def test_backfill_stores_every_settled_window_and_resumes_after_complete_days():
    async with running_simulator() as sim:
        schedule = sim.exchange.core.schedule
        middle = datetime(2024, 12, 29, tzinfo=UTC)
        first = await sync_to_async(command, thread_sensitive=False)(sim, RANGE_START, middle)
        sim.set_faults(rest_5xx=0.3)  # retried by the client's backoff
        second = await sync_to_async(command, thread_sensitive=False)(sim, RANGE_START, RANGE_END)
        rows = await sync_to_async(stored, thread_sensitive=False)()
        sim.set_faults(rest_5xx=1.0)
        with pytest.raises(CommandError, match="run again to resume"):
            await sync_to_async(command, thread_sensitive=False)(
                sim, RANGE_START, RANGE_END, "--restart"
            )
        after_failure = await sync_to_async(stored, thread_sensitive=False)()
    assert "192 settled markets stored over 2 day(s)" in first
    assert "192 settled markets stored over 2 day(s)" in second
    assert "2 day(s) already complete" in second
    start_ms = int(RANGE_START.timestamp() * 1000)
    expected = [
        schedule.market(open_ts)
        for open_ts in range(
            start_ms - WINDOW_S * 1000, start_ms + 4 * DAY_MS - WINDOW_S * 1000, 900_000
        )
    ]
    assert rows == [
        (m.ticker, m.close_ts, Decimal(m.strike_cents) / 100, m.result) for m in expected
    ]
    assert after_failure == rows  # a failed run loses nothing


def test_the_table_is_the_simulators_settlements():
    with pytest.raises(SettledFileError, match="backfill_settled"):
        settled_from_table(SERIES)
    SettledMarket.objects.create(
        ticker="KXBTC15M-25JAN010000-00",
        series=SERIES,
        open_time=datetime(2025, 1, 1, 4, 45, tzinfo=UTC),
        close_time=datetime(2025, 1, 1, 5, 0, tzinfo=UTC),
        floor_strike="93001.17",
        expiration_value="92999.99",
        result="no",
        volume="91281.50",
        settlement_time=datetime(2025, 1, 1, 5, 0, 13, tzinfo=UTC),
    )
    (market,) = list(settled_from_table(SERIES))
    assert (market.strike_cents, market.expiration_cents, market.result, market.volume) == (
        9_300_117,
        9_299_999,
        "no",
        9_128_150,
    )
    from marketdata.sim.core import SimCore
    from marketdata.sim.stream import history_for

    start = int(datetime(2025, 1, 1, 4, 7, tzinfo=UTC).timestamp() * 1000)
    core = SimCore(
        seed=1,
        start_ts=start,
        history=history_for(1, start, 60),
        settled=settled_from_table(SERIES),
    )
    sim_market = core.schedule.market(market.open_ts)
    assert (sim_market.source, sim_market.strike_cents, sim_market.result) == (
        SOURCE_FILE,
        9_300_117,
        "no",
    )


def test_bad_ranges_and_page_sizes_are_refused():
    with pytest.raises(CommandError, match="--end must be after --start"):
        call_command("backfill_settled", "--start", "2026-01-02", "--end", "2026-01-01")
    with pytest.raises(CommandError, match="--page-size"):
        call_command(
            "backfill_settled", "--start", "2026-01-01", "--end", "2026-01-02", "--page-size", "0"
        )


async def test_days_before_kalshis_historical_cutoff_come_from_the_historical_tier():
    async with running_simulator(historical_days=2.5) as sim:
        cutoff = sim.exchange.historical_cutoff()
        assert RANGE_START.timestamp() * 1000 < cutoff < RANGE_END.timestamp() * 1000
        async with httpx.AsyncClient(base_url=sim.kalshi_api_url) as client:
            live = (
                await client.get("/markets", params={"status": "settled", "limit": 1000})
            ).json()["markets"]
            old = (
                await client.get(
                    "/historical/markets", params={"series_ticker": SERIES, "limit": 1000}
                )
            ).json()["markets"]
            both = await client.get(
                "/historical/markets", params={"series_ticker": SERIES, "event_ticker": "x"}
            )
        out = await sync_to_async(command, thread_sensitive=False)(sim, RANGE_START, RANGE_END)
        rows = await sync_to_async(stored, thread_sensitive=False)()
        schedule = sim.exchange.core.schedule
    assert live
    assert old
    assert min(m["settlement_ts"] for m in live) >= wire_iso(cutoff)
    assert max(m["settlement_ts"] for m in old) < wire_iso(cutoff)
    assert both.status_code == 400
    assert "384 settled markets stored over 4 day(s)" in out
    start_ms = int(RANGE_START.timestamp() * 1000)
    expected = [
        schedule.market(open_ts)
        for open_ts in range(start_ms - 900_000, start_ms + 4 * DAY_MS - 900_000, 900_000)
    ]
    assert [(t, c, r) for t, c, _, r in rows] == [
        (m.ticker, m.close_ts, m.result) for m in expected
    ]
