"""Headless Chromium (Debian's ``chromium`` + ``chromium-driver``) for the browser tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from selenium import webdriver
from selenium.webdriver import Chrome
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"  # CI keeps this folder
PASSWORD = "browser-test-password"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,2000",
)


@contextmanager
def chromium(profile_dir: Path, *, log: str = "performance") -> Iterator[Chrome]:
    """Headless Chromium with the project's flags, logging ``log`` ("performance": the
    network requests; "browser": the console)."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.set_capability("goog:loggingPrefs", {log: "ALL"})
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(condition: Callable[[], Any], what: str, within_s: float) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {within_s} s")
        time.sleep(0.1)


def log_in(driver: Chrome, base: str, username: str) -> None:
    driver.get(f"{base}/admin/login/?next=/")
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_until(lambda: urlparse(driver.current_url).path == "/", "dashboard after login", 10)


def ws_state(driver: Chrome) -> str:
    return str(driver.execute_script("return document.getElementById('ws-state').className"))


def screenshot(driver: Chrome, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path
