"""The dashboard, the API docs and the admin run in Chromium under the Content-Security-Policy:
the browser reports no refused script, style, image or connection, and each page renders.

Chromium logs every CSP refusal to the console ("Refused to … because it violates the
following Content Security Policy directive"); the test reads that log after each page.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from tests.e2e.browser import chromium
from trading.tests import factories

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "csp-test-password"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chrome]:
    with chromium(tmp_path / "chromium", log="browser") as driver:
        yield driver


def csp_refusals(driver: Chrome) -> list[str]:
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]


def shown(driver: Chrome, selector: str, within_s: float = 15) -> str:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        found = driver.find_elements(By.CSS_SELECTOR, selector)
        if found and found[0].text.strip():
            return str(found[0].text)
        time.sleep(0.2)
    raise AssertionError(f"{selector} not rendered within {within_s} s")


def test_the_pages_run_under_the_policy_without_a_refusal(live_server, browser):
    user = factories.operator("csp-operator")
    user.set_password(PASSWORD)
    user.is_superuser = True  # the admin's add pages need model permissions
    user.save()
    base = live_server.url

    browser.get(f"{base}/admin/login/?next=/")
    browser.find_element(By.NAME, "username").send_keys("csp-operator")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert csp_refusals(browser) == []

    browser.get(f"{base}/")
    shown(browser, "header.topbar")
    # the page's own script ran: it drew the charts from the JSON data blocks
    assert browser.execute_script("return typeof LightweightCharts") == "object"
    time.sleep(1)
    assert csp_refusals(browser) == []

    browser.get(f"{base}/api/docs/")
    assert "KBTC API" in shown(browser, ".swagger-ui .info .title")
    assert csp_refusals(browser) == []

    browser.get(f"{base}/admin/trading/paramoverride/add/")
    assert "Add param override" in shown(browser, "#content h1")
    assert csp_refusals(browser) == []
