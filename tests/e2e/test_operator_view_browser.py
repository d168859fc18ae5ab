"""The operator's view in headless Chromium: lane tabs, the breaker's truth, a refused
control's message that outlives the socket's re-renders, and chart ranges that span their
whole range up to "now".

The web side runs as its own daphne process on the test database with the Redis channel
layer, so this test can push to its dashboards exactly as the daemon does; no trader runs
(the figures are recorded rows, so every expectation is exact). Screenshots go to
``artifacts/operator-*.png``.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.apps import apps
from selenium.webdriver import Chrome

from trading import push
from trading.models import BankrollSnapshot, BotState, ControlAudit
from trading.services import trades
from trading.tests import factories

from .browser import PASSWORD, log_in, screenshot, wait_until, ws_state
from .processes import ROOT, current_database_url

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

DAY_MS = 86_400_000
END = 1_767_225_600_000 + 40 * DAY_MS  # 2026-02-10 00:00 UTC: the trading clock
MINUTES = 10 * 1440  # BTC bars: the last ten days, one a minute
SNAPSHOTS = 4000  # equity: one every 15 minutes over the last ~41.7 days


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    """daphne serving the project on the test database and the test's Redis layer."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBTC_")}
    env.update(DATABASE_URL=current_database_url(), KBTC_DATA_DIR=str(tmp_path / "data"))
    log = (tmp_path / "daphne.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "kbtc_site.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def listening() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, "daphne listening", 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(20)
        log.close()


def _ms(ts: int) -> dt.datetime:
    return trades.ms_to_datetime(ts)


def _record_the_market() -> None:
    """Equity for both lanes, BTC minute bars, and each lane's breaker tripped."""
    push.forget_latest_payloads()
    start = END - (SNAPSHOTS - 1) * 900_000
    BankrollSnapshot.objects.bulk_create(
        BankrollSnapshot(
            lane=lane,
            ts=_ms(start + i * 900_000),
            bankroll=Decimal(1000 + i) / (1 if lane == "paper" else 2),
            peak=Decimal(1000 + i),
            drawdown=0.0,
            daily_pnl=Decimal(0),
            trade_count=i,
        )
        for lane in ("paper", "live")
        for i in range(SNAPSHOTS)
    )
    candle = apps.get_model("marketdata", "Candle")
    first_bar = END - (MINUTES - 1) * 60_000
    candle.objects.bulk_create(
        candle(
            source="binance",
            interval_s=60,
            open_time=_ms(first_bar + i * 60_000),
            open=Decimal(50_000 + i),
            high=Decimal(50_010 + i),
            low=Decimal(49_990 + i),
            close=Decimal(50_001 + i),
            volume=Decimal(1),
        )
        for i in range(MINUTES)
    )
    for lane, reason in (("paper", "MAX_DRAWDOWN_HALT"), ("live", "DAILY_LOSS_LIMIT")):
        trades.bot_state_save(
            lane=lane,
            bankroll=790_000_000,
            peak=1_000_000_000,
            daily_baseline=800_000_000,
            weekly_baseline=1_000_000_000,
            breaker_state=reason,
            snapshot_at_ms=END,
        )
    for i in range(3):
        factories.trade(closed_at_ms=END - i * 60_000, opened_at_ms=END - i * 60_000 - 30_000)


def _js(driver: Chrome, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


# Read and click in one script each: the socket swaps the sidebar out from under a WebElement.
def _visible(driver: Chrome, element_id: str) -> bool:
    return bool(_js(driver, "return document.getElementById(arguments[0]).offsetParent !== null;",
                    element_id))  # fmt: skip


def _text(driver: Chrome, selector: str) -> str:
    return str(_js(driver, "return document.querySelector(arguments[0]).textContent;", selector))


def _click(driver: Chrome, selector: str) -> None:
    _js(driver, "document.querySelector(arguments[0]).click();", selector)


def _series(driver: Chrome, name: str) -> list[dict[str, Any]]:
    return list(_js(driver, f"return window.kbtcCharts.{name}.data();"))


def _breaker(driver: Chrome, lane: str) -> tuple[str, str]:
    text, classes = _js(
        driver,
        "var badge = document.querySelector(arguments[0]);"
        "return [badge.textContent, badge.className];",
        f"#sidebar-{lane} .breaker .badge",
    )
    return str(text), str(classes)


def _range(driver: Chrome, label: str, days: int) -> None:
    _js(driver, "document.querySelector('.range button[data-range=\"' + arguments[0] + '\"]')"
        ".click();", label)  # fmt: skip
    wait_until(lambda: _js(driver, "return window.kbtcCharts.view.days") == days, label, 5)


def test_the_operators_view(web: str, browser: Chrome) -> None:
    _record_the_market()
    operator = factories.operator()
    operator.set_password(PASSWORD)
    operator.save()
    log_in(browser, web, operator.username)
    wait_until(lambda: ws_state(browser) == "dot open", "the dashboard's socket", 10)

    # --- lane tabs: the paper lane first; its breaker tripped but not enforced ------------
    assert _visible(browser, "sidebar-paper")
    assert not _visible(browser, "sidebar-live")
    assert _visible(browser, "signal-paper")
    assert not _visible(browser, "signal-live")
    assert _visible(browser, "stats-paper")
    assert not _visible(browser, "stats-live")
    text, classes = _breaker(browser, "paper")
    assert text == "MAX_DRAWDOWN_HALT · tripped, not enforced on paper"
    assert "warn" in classes
    assert _text(browser, "#sidebar-paper .trade-count") == "3"
    screenshot(browser, "operator-paper.png")

    _click(browser, ".lane-tabs button[data-lane=live]")
    wait_until(lambda: _visible(browser, "sidebar-live"), "the live lane's sidebar", 5)
    assert not _visible(browser, "sidebar-paper")
    assert _visible(browser, "stats-live")
    assert not _visible(browser, "stats-paper")
    text, classes = _breaker(browser, "live")
    assert "halting" in text.lower()
    assert "bad" in classes
    wait_until(
        lambda: _series(browser, "equity") and _series(browser, "equity")[-1]["value"] == 2499.5,
        "the live lane's equity (half the paper lane's, by construction)",
        10,
    )
    screenshot(browser, "operator-push.png")
    _click(browser, ".lane-tabs button[data-lane=paper]")
    wait_until(lambda: _series(browser, "equity")[-1]["value"] == 4999.0, "paper equity", 10)

    # --- chart ranges: each spans its whole range up to "now", bounded --------------------
    end_s = END // 1000
    first_bar_s = (END - (MINUTES - 1) * 60_000) // 1000
    expected = {  # range: (days, bar width, first bar's time)
        "24h": (1, 60, end_s - 86_400),
        "1w": (7, 900, end_s - 7 * 86_400),
        "1m": (30, 3600, first_bar_s - first_bar_s % 3600),  # 30 days asked, 10 recorded
        "all": (0, 900, first_bar_s - first_bar_s % 900),  # the 10 days recorded
    }
    for label, (days, width, first) in expected.items():
        _range(browser, label, days)

        def shown(days: int = days, width: int = width, first: int = first) -> bool:
            bars, equity = _series(browser, "candles"), _series(browser, "equity")
            oldest = end_s - days * 86_400 if days else end_s - (SNAPSHOTS - 1) * 900
            return bool(
                _js(browser, "return window.kbtcCharts.view.interval") == width
                and bars
                and bars[0]["time"] == first
                and bars[-1]["time"] == end_s - end_s % width  # up to now
                and equity
                and equity[-1]["time"] == end_s
                and (equity[0]["time"] >= oldest if days else equity[0]["time"] == oldest)
            )

        wait_until(shown, f"the {label} range's whole span", 10)
        assert len(_series(browser, "candles")) <= 1500
        assert len(_series(browser, "equity")) <= 1500
        screenshot(browser, f"operator-range-{label}.png")

    # --- the PnL toggle: bankroll less the lane's initial bankroll ------------------------
    initial = float(_js(browser, "return window.kbtcCharts.view.initial"))
    _click(browser, ".value-tabs button[data-value=pnl]")
    wait_until(
        lambda: abs(_series(browser, "equity")[-1]["value"] - (4999.0 - initial)) < 0.006,
        "the PnL curve",
        5,
    )
    assert initial == pytest.approx(790 - 3 * 0.05)  # the bankroll less its trades' PnL

    # --- a refused control: its message stays through the socket's re-renders -------------
    _js(browser, "window.confirm = function () { return true; };")
    _click(browser, "#sidebar button[hx-post='/controls/trading-mode/']")
    message = "Refused: the live lane does not exist yet"
    wait_until(lambda: message in _text(browser, "#control-message"), "the refusal", 5)
    assert "refused" in _js(
        browser, "return document.querySelector('#control-message .message').className"
    )
    assert ControlAudit.objects.get().applied is False
    for _ in range(3):  # what the daemon's announcements and equity pushes do
        _js(browser, "document.getElementById('sidebar').dataset.old = 'yes';")
        async_to_sync(get_channel_layer().group_send)(
            push.CONTROLS_GROUP, {"type": "controls.changed", "action": "test"}
        )
        wait_until(
            lambda: _js(browser, "return document.getElementById('sidebar').dataset.old") is None,
            "the sidebar re-rendered by the socket",
            5,
        )
        time.sleep(0.3)
        assert message in _text(browser, "#control-message")
    screenshot(browser, "operator-refused.png")
    _click(browser, "#control-message .dismiss")
    wait_until(lambda: _text(browser, "#control-message") == "", "dismissed", 5)

    # --- the breaker: an operator enforces it on paper -------------------------------------
    _click(browser, "#paper-breaker-toggle")
    wait_until(lambda: "halting" in _breaker(browser, "paper")[0].lower(), "enforced", 5)
    assert "Paper breaker enforced" in _text(browser, "#control-message")
    assert BotState.objects.get(lane="paper").breaker_state == "MAX_DRAWDOWN_HALT"
    screenshot(browser, "operator-breaker-enforced.png")
