"""Attribution end to end: paper trades from a simulator run across a UTC midnight, the
daily job on the trading clock's day (January 2026, not the wall clock's), and the PnL
Attribution panel in headless Chromium showing the numbers ``GET /api/attribution`` gives.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db.models import Sum
from selenium.webdriver.common.by import By

from attribution.models import DailyAttribution
from attribution.services import attribution_catch_up
from trading.clock import trading_now
from trading.models import Trade

from .browser import screenshot
from .conftest import SteppedDaemon

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

START = 1_767_301_200_000  # 2026-01-01T21:00Z (synthetic path, seed 7)
DAY = dt.date(2026, 1, 1)
HOURS = 4  # to 01:00 on January 2


def _day_totals() -> tuple[int, Decimal]:
    rows = Trade.objects.filter(
        lane="paper",
        quarantined=False,
        data_quality_flag="",
        closed_at__gte=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        closed_at__lt=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
    )
    return rows.count(), rows.aggregate(total=Sum("pnl"))["total"] or Decimal(0)


async def test_paper_trades_are_attributed_on_the_trading_clocks_day_and_shown(
    live_server, browser, settings
):
    settings.ANONYMOUS_READS = True
    async with SteppedDaemon(start=START, minutes=HOURS * 60 + 60) as sim:
        await sim.step(HOURS * 3600)
        await sim.settle()
    now = await sync_to_async(trading_now)()
    assert now.date() == dt.date(2026, 1, 2)  # simulated time, saved with the state
    count, pnl = await sync_to_async(_day_totals)()
    assert count > 0, "the simulator run made no paper trade on January 1"

    done = await sync_to_async(attribution_catch_up)()
    assert ("paper", DAY) in done.days
    row = await sync_to_async(DailyAttribution.objects.get)(lane="paper", day=DAY)
    assert (row.total_trades, row.total_pnl) == (count, pnl)
    assert not await sync_to_async(DailyAttribution.objects.filter(day=DAY.today()).exists)()
    again = await sync_to_async(attribution_catch_up)()
    assert again.days == []  # idempotent: nothing left to do

    def look() -> tuple[dict, dict[str, str]]:
        browser.get(f"{live_server.url}/api/attribution?mode=paper&format=json")
        api = json.loads(browser.find_element(By.TAG_NAME, "body").text)
        browser.get(f"{live_server.url}/")
        panel = browser.find_element(By.ID, "attribution-paper")
        shown = {
            name: panel.find_element(By.CLASS_NAME, f"attr-{name}").text
            for name in ("trades", "total", "fees", "fee-drag")
        }
        health = browser.find_element(By.CSS_SELECTOR, '#health-panel tr[data-lane="paper"]')
        shown["signal-health-trades"] = health.find_elements(By.TAG_NAME, "td")[1].text
        screenshot(browser, "attribution.png")
        return api, shown

    api, shown = await sync_to_async(look)()
    total = api["total_pnl_dollars"]
    assert shown == {
        "trades": str(api["total_trades"]),
        "total": f"-${abs(total):,.2f}" if total < 0 else f"${total:,.2f}",
        "fees": f"${api['execution_attribution']['total_fees_dollars']:,.2f}",
        "fee-drag": f"{api['execution_attribution']['fees_as_pct_of_gross']}%",
        "signal-health-trades": str(api["total_trades"]),  # all within the last 30 days
    }
    assert api["total_trades"] >= count
