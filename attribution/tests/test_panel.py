"""The PnL Attribution panel shows the API's figures; the System health panel shows each
lane's signal health."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from attribution.services import attribution_week_compute
from trading import dashboard, push
from trading.health_panel import health_context
from trading.tests.factories import trade

pytestmark = pytest.mark.django_db

D0_MS = 1_767_484_800_000  # 2026-01-04T00:00Z, a Sunday
HOUR = 3_600_000


@pytest.fixture(autouse=True)
def fresh():
    cache.clear()
    push.forget_latest_payloads()


def closed(opened_ms: int, **kw):
    return trade(opened_at_ms=opened_ms, closed_at_ms=opened_ms + 300_000, **kw)


def lane_block(page: str, lane: str) -> str:
    start = page.index(f'id="attribution-{lane}"')
    return page[start : page.index("</table>\n  </div>", start)]


@override_settings(ANONYMOUS_READS=True)
def test_the_panel_shows_what_the_api_answers():
    closed(D0_MS - 7 * 24 * HOUR + 9 * HOUR, pnl=1_000_000)
    closed(D0_MS + HOUR, pnl=2_500_000, fees=400_000, conviction="HIGH")
    closed(D0_MS + 9 * HOUR, pnl=-1_750_000, fees=300_000, exit_reason="STOP_LOSS")
    attribution_week_compute(lane="paper", week_start=dt.date(2026, 1, 4))
    client = Client()
    api = client.get("/api/attribution?mode=paper").json()
    page = client.get("/").content.decode()
    block = lane_block(page, "paper")
    assert f'<span class="attr-trades">{api["total_trades"]}</span>' in block
    assert '<span class="attr-total">$1.75</span>' in block
    assert api["total_pnl_dollars"] == 1.75
    execution = api["execution_attribution"]
    assert f'<span class="attr-fees">${execution["total_fees_dollars"]:.2f}</span>' in block
    assert f'<span class="attr-fee-drag">{execution["fees_as_pct_of_gross"]}%</span>' in block
    for table, key in (
        ("attr-session", "session_attribution"),
        ("attr-regime", "regime_attribution"),
    ):
        for name, group in api[key].items():
            if isinstance(group, dict):
                row = re.search(rf'class="{table}".*?data-name="{name}">(.*?)</tr>', block, re.S)
                assert row, (table, name)
                money = f"${abs(group['pnl_dollars']):,.2f}"
                assert money in row.group(1), (table, name)
    flipped = re.findall(r'attr-flipped">([^<]+)<', page)
    assert flipped == ["session LONDON flipped"]
    assert [f["name"] for f in api["weekly"]["flipped"]] == ["LONDON"]


def test_the_pushed_panel_is_the_same_as_the_page():
    closed(D0_MS + HOUR, pnl=2_000_000)
    frames = dashboard.render_topic("trade", {"lane": "paper"}, can_control=False)
    assert '<span class="attr-trades">1</span>' in frames[0]


def test_the_health_panel_lists_signal_health_per_lane():
    for i in range(20):
        closed(D0_MS + i * HOUR, pnl=1_000_000 if i % 2 else -500_000,
               entry_obi=0.6 + i * 0.01, entry_roc=0.001)  # fmt: skip
    context = health_context(None)
    rows = {row["lane"]: row for row in context["signal_health"]}
    assert rows["paper"]["trades"] == 20
    assert rows["paper"]["win_rate"] == 0.5
    assert rows["live"]["trades"] == 0
    html = dashboard.render_topic("health", {"feeds": []}, can_control=False)[0]
    assert '<tr data-lane="paper"><td>paper</td><td>20</td><td>50%</td>' in html
    with override_settings(ANONYMOUS_READS=True):
        page = Client().get("/").content.decode()
    assert '<tr data-lane="paper"><td>paper</td><td>20</td><td>50%</td>' in page
