"""Switching to live from the dashboard, in headless Chromium: the simulator as its own
process (``simulate_exchange``, a registered key), ``run_trader --live`` on it (the
exchange named by explicit URLs), daphne for the dashboard, all on the test database.

The operator switches to live (accepting the confirmation), the live lane trades on the
simulator's account, and the operator switches back to paper (refused while a live
position is open, so the test retries until it is not). Screenshots go to
``artifacts/live-*.png``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver import Chrome

from marketdata.history.backfill import backfill
from marketdata.sim.auth import generate_key_pair
from trading.models import ControlAudit, LivePositionState, Trade, TradingControls
from trading.tests import factories

from .browser import PASSWORD, log_in, screenshot, wait_until
from .processes import ROOT, current_database_url

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

START = 1_767_225_600_000  # 2026-01-01 00:00 UTC (synthetic path, seed 7)
SPEED = 120
KEY_ID = "browser-live-key"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The simulator, the live trader and the web side, as processes."""
    private, public = generate_key_pair()
    key_file = tmp_path / "live.pem"
    key_file.write_bytes(private)
    key_file.chmod(0o600)
    (tmp_path / "live.pub").write_bytes(public)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("KBTC_", "KALSHI_"))}
    base_env.update(DATABASE_URL=current_database_url(), KBTC_DATA_DIR=str(tmp_path / "data"))
    sim_port, web_port = _free_port(), _free_port()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(
            _spawn(
                [
                    sys.executable,
                    "manage.py",
                    "simulate_exchange",
                    "--port",
                    str(sim_port),
                    "--speed",
                    str(SPEED),
                    "--start",
                    str(START),
                    "--seed",
                    "7",
                    "--days",
                    "2",
                    "--api-key",
                    f"{KEY_ID}={tmp_path / 'live.pub'}",
                ],
                base_env,
                tmp_path / "sim.log",
            )
        )
        wait_until(lambda: _listening(sim_port), "the simulator listening", 60)
        base = f"http://127.0.0.1:{sim_port}"
        clock = json.load(urllib.request.urlopen(f"{base}/sim/clock", timeout=10))
        now = int(clock["released_ms"])
        backfill(base_url=f"{base}/binance", start_ms=now - 16 * 3600 * 1000, end_ms=now)
        trader_env = {
            **base_env,
            "KALSHI_API_URL": f"{base}/trade-api/v2",
            "KALSHI_WS_URL": f"ws://127.0.0.1:{sim_port}/trade-api/ws/v2",
            "COINBASE_WS_URL": f"ws://127.0.0.1:{sim_port}/coinbase",
            "KALSHI_API_KEY_ID": KEY_ID,
            "KALSHI_PRIVATE_KEY_PATH": str(key_file),
        }
        processes.append(
            _spawn(
                [sys.executable, "manage.py", "run_trader", "--live", "--refresh-s", "2"],
                trader_env,
                tmp_path / "trader.log",
            )
        )
        processes.append(
            _spawn(
                [
                    sys.executable,
                    "-m",
                    "daphne",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(web_port),
                    "kbtc_site.asgi:application",
                ],
                base_env,
                tmp_path / "daphne.log",
            )
        )
        wait_until(lambda: _listening(web_port), "daphne listening", 60)
        yield {"web": f"http://127.0.0.1:{web_port}", "logs": tmp_path}
    finally:
        for process in reversed(processes):
            _stop(process)


def _click(driver: Chrome, selector: str) -> None:
    driver.execute_script("document.querySelector(arguments[0]).click();", selector)


def _text(driver: Chrome, selector: str) -> str:
    return str(
        driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
            selector,
        )
    )


def _mode() -> str:
    controls = TradingControls.objects.filter(pk=1).first()
    return controls.trading_mode if controls else "paper"


def test_the_demo_switches_to_live_trades_and_switches_back(
    stack: dict[str, Any], browser: Chrome
) -> None:
    operator = factories.operator()
    operator.set_password(PASSWORD)
    operator.save()
    logs: Path = stack["logs"]
    wait_until(
        lambda: LivePositionState.objects.filter(lane="live").exists(),
        "the live lane wired",
        120,
    )
    log_in(browser, stack["web"], operator.username)
    wait_until(lambda: "Live position manager" in _text(browser, "#sidebar"), "the panel", 10)
    browser.execute_script("window.confirm = function () { return true; };")
    _click(browser, "#mode-toggle")
    wait_until(lambda: _mode() == "live", "live mode", 10)
    wait_until(lambda: "Switch to paper" in _text(browser, "#mode-toggle"), "the sidebar", 10)
    screenshot(browser, "live-switched.png")
    audit = ControlAudit.objects.filter(action="trading_mode_set").latest("id")
    assert (audit.applied, audit.after["trading_mode"], audit.source) == (
        True,
        "live",
        "dashboard",
    )

    def traded() -> bool:
        return Trade.objects.filter(lane="live").exists()

    try:
        wait_until(traded, "a live trade", 420)
    except AssertionError:
        print((logs / "trader.log").read_text()[-5000:])
        raise
    browser.refresh()
    wait_until(lambda: "Round trips" in _text(browser, "#live-manager"), "the panel", 10)
    screenshot(browser, "live-traded.png")

    def back_to_paper() -> bool:
        if _mode() == "paper":
            return True
        browser.execute_script("window.confirm = function () { return true; };")
        _click(browser, "#mode-toggle")
        time.sleep(2)
        return _mode() == "paper"

    wait_until(back_to_paper, "paper mode again", 300)
    wait_until(lambda: "Switch to live" in _text(browser, "#mode-toggle"), "the sidebar", 10)
    screenshot(browser, "live-back-to-paper.png")
    trade = Trade.objects.filter(lane="live").first()
    assert trade is not None
    print(
        f"\nlive trade in the browser test: {trade.ticker} {trade.direction} {trade.contracts}"
        f" pnl {trade.pnl} ({trade.exit_reason})"
    )
