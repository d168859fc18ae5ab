"""The backtester in Chromium: the HTML report of a one-day run opens without a console
error (screenshot in artifacts/), and the dashboard's Backtest panel follows a running pass's
progress as it is stored."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from backtests.models import BacktestRun, RunStatus
from backtests.tests.helpers import SEED, kline_file
from tests.e2e.browser import PASSWORD, chromium, screenshot, wait_until
from trading.tests import factories

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chrome]:
    with chromium(tmp_path / "chromium", log="browser") as driver:
        yield driver


@pytest.fixture
def one_day_run(tmp_path: Path) -> BacktestRun:
    out = io.StringIO()
    call_command(
        "backtest", "--start", "2026-01-01T00:00", "--end", "2026-01-02T00:00",
        "--history", str(kline_file(tmp_path, hours_after=26)), "--seed", str(SEED), "--json",
        stdout=out,
    )  # fmt: skip
    return BacktestRun.objects.get(pk=json.loads(out.getvalue().strip().splitlines()[-1])["run_id"])


def log_in(driver: Chrome, base: str) -> None:
    user = factories.operator("bt-operator")
    user.set_password(PASSWORD)
    user.save()
    driver.get(f"{base}/admin/login/?next=/admin/")
    driver.find_element(By.NAME, "username").send_keys("bt-operator")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_until(lambda: "/admin/login" not in driver.current_url, "login", 10)
    driver.get_log("browser")  # start the page checks with an empty log


def console_errors(driver: Chrome) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_the_report_of_a_one_day_run_opens_without_console_errors(
    live_server, browser, one_day_run
):
    log_in(browser, live_server.url)
    browser.get(f"{live_server.url}/backtests/runs/{one_day_run.pk}/report")
    wait_until(lambda: browser.find_elements(By.ID, "equity-chart"), "the equity chart", 15)
    time.sleep(0.5)
    assert console_errors(browser) == []
    # the charts are drawn: the curve has one point per close plus the start, a bar per trade
    points = browser.find_element(By.CSS_SELECTOR, "#equity-chart polyline").get_attribute("points")
    assert points is not None
    assert len(points.split()) == len(one_day_run.equity) + 1
    bars = browser.find_elements(By.CSS_SELECTOR, "#pnl-chart rect")
    assert len(bars) == one_day_run.metrics["trades"] > 0
    assert browser.find_element(By.ID, "equity-chart").size["height"] > 100
    kpis = browser.find_element(By.ID, "kpis").text
    assert "Sharpe" in kpis
    assert "Win rate" in kpis
    # signal accuracy: correct / incorrect / neutral of OBI and ROC, every trade counted
    accuracy = one_day_run.metrics["signal_accuracy"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#signal-accuracy-chart rect")) == 6
    for signal in ("OBI", "ROC"):
        counts = accuracy[signal]["settlement"]
        assert (
            sum(counts[k] for k in ("correct", "incorrect", "neutral", "unsettled"))
            == (one_day_run.metrics["trades"])
        )
    assert "OBI" in browser.find_element(By.ID, "signal-accuracy").text
    screenshot(browser, "backtest_report.png")


def test_the_panel_follows_a_running_pass(live_server, browser, one_day_run):
    fields = {f.name: getattr(one_day_run, f.name) for f in one_day_run._meta.fields}
    running = BacktestRun.objects.create(**{k: v for k, v in fields.items() if k != "id"})
    BacktestRun.objects.filter(pk=running.pk).update(
        status=RunStatus.RUNNING, progress=0.1, events=1000, metrics={}
    )
    log_in(browser, live_server.url)
    browser.get(f"{live_server.url}/")

    def panel() -> str:
        # the panel is swapped whole by each poll: an element read mid-swap is gone
        try:
            found = browser.find_elements(By.ID, "backtest-panel")
            return str(found[0].text) if found else ""
        except StaleElementReferenceException:
            return ""

    def report_link() -> str:
        try:
            return (
                browser.find_element(By.CSS_SELECTOR, "#backtest-panel a").get_attribute("href")
                or ""
            )
        except (StaleElementReferenceException, NoSuchElementException):
            return ""

    wait_until(lambda: "10%" in panel(), "the first progress", 15)
    # the latest finished run, with its report link
    wait_until(lambda: f"run {one_day_run.pk}" in panel(), "the latest finished run", 15)
    report = f"/backtests/runs/{one_day_run.pk}/report"
    wait_until(lambda: report_link().endswith(report), "the report link", 15)
    BacktestRun.objects.filter(pk=running.pk).update(progress=0.6, events=600_000)
    wait_until(lambda: "60%" in panel() and "600000 events" in panel(), "the stored progress", 15)
    screenshot(browser, "backtest_panel.png")
    BacktestRun.objects.filter(pk=running.pk).update(status=RunStatus.FAILED, error="worker lost")
    wait_until(lambda: "worker lost" in panel(), "the failure", 15)
    assert "60%" not in panel()
