"""The dashboard in headless Chromium (Debian's package) while the daemon trades.

One server, as the embedded demo runs it: daphne on an ephemeral 127.0.0.1 port in a
thread, with the paper daemon on the simulator stream (seed 7, accelerated) as a task on
daphne's own loop, so the in-memory channel layer is shared (with ``REDIS_URL`` set the
Redis layer carries the same messages). The browser logs in as an operator and watches
the page; Chrome's performance log lists every request the page makes. A screenshot is
kept in ``artifacts/dashboard.png`` (CI keeps ``artifacts/``).

When the uninterrupted run enters comes from a quick run of the same stream
(``uninterrupted_run``, no database), so the pause check follows the engine if entries move.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlparse

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from marketdata.model.events import Event
from marketdata.recorder import Recorder
from marketdata.sim.core import SimCore
from marketdata.sim.prices import history_candles
from marketdata.sim.stream import history_for
from trading import push, selectors
from trading.engine.records import PositionClosed, PositionOpened
from trading.models import ControlAudit, Trade
from trading.runtime.daemon import Daemon, DaemonConfig
from trading.runtime.factory import build_daemon
from trading.runtime.feeds import sim_stream_feed
from trading.runtime.session import SessionOutput
from trading.runtime.sinks import Observer
from trading.tests import factories

from .browser import PASSWORD, log_in, screenshot, wait_until, ws_state
from .conftest import BANKROLL, LATENCY, SEED, START
from .reference_run import elapsed_s, entries, uninterrupted_run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

SPEED = 120  # simulated seconds per wall second
PAST_ENTRY_S = 10  # the paused stretch runs this long past the uninterrupted run's entry


class TradingServer:
    """daphne in a thread with the paper daemon on its loop (the embedded demo's wiring)."""

    def __init__(self) -> None:
        self.entries: list[int] = []  # PositionOpened times, ms
        self.closes: list[PositionClosed] = []
        self.daemon: Daemon | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self._ready = threading.Event()
        self._failed: list[BaseException] = []
        self._stop: asyncio.Event | None = None
        self._daemon_task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._serve, name="daphne", daemon=True)

    def _observe(self, event: Event | None, produced: Sequence[SessionOutput]) -> None:
        self.entries.extend(o.ts for o in produced if isinstance(o, PositionOpened))
        self.closes.extend(o for o in produced if isinstance(o, PositionClosed))

    async def _run_daemon(self) -> None:
        history = history_for(SEED, START, 240)
        self.daemon = build_daemon(
            DaemonConfig(latency_ms=LATENCY, bankroll=BANKROLL),
            feeds=[
                sim_stream_feed(SimCore(seed=SEED, start_ts=START, history=history), speed=SPEED)
            ],
            candles=lambda before: history_candles(history, before, count=60),
            recorder=Recorder(label="browser"),
            start_ts=START,
            sinks=[Observer(self._observe)],
        )
        self._stop = asyncio.Event()
        try:
            await self.daemon.prepare()
            self._ready.set()
            await self.daemon.run(self._stop)
        except BaseException as error:
            self._failed.append(error)
            self._ready.set()
            raise
        finally:
            await sync_to_async(connections.close_all)()

    def _serve(self) -> None:
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from kbtc_site.asgi import application

        def on_ready() -> None:
            self.loop = asyncio.get_event_loop()
            self.port = daphne_server.listening_addresses[0][1]
            self._daemon_task = self.loop.create_task(self._run_daemon())

        daphne_server = Server(
            application=application,
            endpoints=build_endpoint_description_strings(host="127.0.0.1", port=0),
            signal_handlers=False,
            websocket_timeout=-1,
            ready_callable=on_ready,
            verbosity=0,
        )
        daphne_server.run()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30) or self._failed:
            raise RuntimeError(f"the server did not start: {self._failed}")

    def call(self, coroutine: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the server's loop (the in-memory layer lives there)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def push_trade_closed(self, trade: Trade) -> None:
        """What the daemon sends once a closed trade's row is committed (topic ``trade``):
        every dashboard re-renders its stats and pushes the newest page of trades."""
        payload = {
            "ts": int(trade.closed_at.timestamp() * 1000),
            "lane": trade.lane,
            "trade": {"position_uid": trade.position_uid, "exit_reason": trade.exit_reason},
        }
        message = {"type": "live.message", "topic": "trade", "payloads": [payload]}
        self.call(get_channel_layer().group_send(push.topic_group("trade"), message))

    def stop(self) -> None:
        from twisted.internet import reactor as twisted_reactor

        reactor: Any = twisted_reactor  # the module's reactor object is installed at runtime

        async def stop_daemon() -> None:
            assert self._stop is not None
            assert self._daemon_task is not None
            self._stop.set()
            await asyncio.wait_for(self._daemon_task, 20)

        try:
            self.call(stop_daemon())
        finally:
            reactor.callFromThread(reactor.stop)
            self._thread.join(20)
        assert self.daemon is not None
        assert self.daemon.errors == 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def now_ms(self) -> int:
        assert self.daemon is not None
        assert self.daemon.session is not None
        return self.daemon.session.now

    @property
    def elapsed_s(self) -> int:
        assert self.daemon is not None
        assert self.daemon.session is not None
        return (self.daemon.session.now - START) // 1000


@pytest.fixture
def server() -> Iterator[TradingServer]:
    # payloads other runs left in a shared (Redis) cache would show on the first render
    push.forget_latest_payloads()
    running = TradingServer()
    running.start()
    try:
        yield running
    finally:
        running.stop()


def network_log(driver: Chrome) -> list[dict[str, Any]]:
    """Chrome's DevTools network events since the last call."""
    messages = (json.loads(entry["message"])["message"] for entry in driver.get_log("performance"))
    return [m for m in messages if m["method"].startswith("Network.")]


# Read the DOM in one script: the socket swaps these elements out from under a WebElement.
SPOT_JS = """
var terms = document.querySelectorAll('#market-panel dt');
for (var i = 0; i < terms.length; i++) {
  if (terms[i].textContent === 'BTC spot') { return terms[i].nextElementSibling.textContent; }
}
return '';
"""


def spot(driver: Chrome) -> str:
    return str(driver.execute_script(SPOT_JS))


def distinct_spots(driver: Chrome, count: int, within_s: float) -> set[str]:
    seen: set[str] = set()

    def enough() -> bool:
        value = spot(driver)
        if value.startswith("$"):
            seen.add(value)
        return len(seen) >= count

    wait_until(enough, f"{count} distinct spot values", within_s)
    return seen


def press(driver: Chrome, label: str) -> None:
    """Click a sidebar button as a user would (the sidebar is re-rendered by pushes, so a
    found button may be swapped out before the click lands: find it again)."""
    for _ in range(10):
        try:
            driver.find_element(
                By.XPATH, f"//div[@id='sidebar']//button[normalize-space()='{label}']"
            ).click()
            return
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"the {label} button kept being replaced")


def check_requests(events: list[dict[str, Any]]) -> None:
    """Since the dashboard's document was requested: the page itself, static files, the
    socket and the Backtest and Tuning panels' one lazy load each, nothing else (no polling:
    the panels poll only while a backtest or a study runs, and none does here; pushed frames
    never make the page request anything)."""
    urls = [
        urlparse(e["params"]["request"]["url"])
        for e in events
        if e["method"] == "Network.requestWillBeSent"
    ]
    # data: URLs are the browser's own (a date input's icon), not requests
    paths = [url.path for url in urls if url.scheme != "data"]
    assert paths[0] == "/", "the log starts with the dashboard's document"
    others = [p for p in paths[1:] if not p.startswith("/static/")]
    lazy = {"/backtests/panel", "/backtests/tuning-panel"}
    assert set(others) <= lazy, f"requests besides the socket and static files: {others}"
    assert len(others) == len(set(others)), f"a panel was requested again (polling): {others}"


def utc_day(ts_ms: int) -> str:
    return dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.UTC).strftime("%m-%d")


def daily_pnl_days(driver: Chrome) -> list[str]:
    return list(
        driver.execute_script(
            "return Array.from(document.querySelectorAll('#stats-paper .bars .day'))"
            ".map(function (d) { return d.textContent; });"
        )
    )


def requests_made(events: list[dict[str, Any]]) -> list[str]:
    """Paths the page requested, leaving out static files and the browser's data: URLs."""
    urls = [
        urlparse(e["params"]["request"]["url"])
        for e in events
        if e["method"] == "Network.requestWillBeSent"
    ]
    return [u.path for u in urls if u.scheme != "data" and not u.path.startswith("/static/")]


def recorded_trade(exit_reason: str, closed_at_ms: int) -> Trade:
    """A closed trade on the live lane (which the paper daemon never trades), as recorded."""
    return factories.trade(
        lane="live",
        exit_reason=exit_reason,
        opened_at_ms=closed_at_ms - 60_000,
        closed_at_ms=closed_at_ms,
    )


def watch_trade_pushes(driver: Chrome) -> None:
    driver.execute_script(
        "window.kbtcTradeFrames = 0;"
        "document.body.addEventListener('htmx:wsBeforeMessage', function (e) {"
        "  var m = e.detail.message;"
        "  if (typeof m === 'string' && m.indexOf('<div id=\"trades-panel\"') === 0) {"
        "    window.kbtcTradeFrames += 1;"
        "  }"
        "});"
    )


def trade_frames(driver: Chrome) -> int:
    return int(driver.execute_script("return window.kbtcTradeFrames"))


def health_panel_text(driver: Chrome) -> str:
    return str(driver.execute_script("return document.getElementById('health-panel').innerText"))


def trades_panel(driver: Chrome) -> str:
    return str(driver.execute_script("return document.getElementById('trades-panel').outerHTML"))


def set_trades_filter(driver: Chrome, name: str, value: str) -> None:
    """Type into a filter field and leave it (a change event), in one script: a push may
    replace the panel between finding a field and typing into it."""
    driver.execute_script(
        "var field = document.querySelector('#trades-filter [name=' + arguments[0] + ']');"
        "field.value = arguments[1];"
        "field.dispatchEvent(new Event('change', { bubbles: true }));",
        name,
        value,
    )


def click_trades_button(driver: Chrome, label: str) -> None:
    driver.execute_script(
        "var label = arguments[0];"
        "Array.from(document.querySelectorAll('#trades-panel .pager button'))"
        ".filter(function (b) { return b.textContent.indexOf(label) >= 0; })[0].click();",
        label,
    )


def assert_push_is_dropped(driver: Chrome, server: TradingServer, trade: Trade) -> None:
    """The newest page is pushed with ``trade`` on it; a filtered or paged table stays."""
    before, frames = trades_panel(driver), trade_frames(driver)
    server.push_trade_closed(trade)
    wait_until(lambda: trade_frames(driver) > frames, "the pushed table", 10)
    time.sleep(0.5)  # what htmx would swap, it swaps within a few milliseconds
    assert trades_panel(driver) == before
    assert trade.exit_reason not in before
    assert requests_made(network_log(driver)) == []


def test_the_dashboard_streams_reconnects_and_its_pause_stops_the_daemons_entries(
    server: TradingServer, browser: Chrome
) -> None:
    operator = factories.operator()
    operator.set_password(PASSWORD)
    operator.save()
    log_in(browser, server.url, operator.username)
    network_log(browser)  # the login's requests
    browser.get(f"{server.url}/")
    wait_until(lambda: ws_state(browser) == "dot open", "open dashboard socket", 10)
    network = network_log(browser)
    assert any(
        e["method"] == "Network.webSocketCreated" and e["params"]["url"].endswith("/ws/dashboard/")
        for e in network
    )
    browser.execute_script(
        "window.kbtcCloses = [];"
        "document.body.addEventListener('htmx:wsClose',"
        " function (e) { window.kbtcCloses.push(e.detail.event.code); });"
    )

    # live updates over the socket: at least two distinct spot values within 10 s
    distinct_spots(browser, 2, within_s=10)
    after_load = network_log(browser)
    assert any(e["method"] == "Network.webSocketFrameReceived" for e in after_load)
    network += after_load
    check_requests(network)

    # the server closes the socket with 1000: the page reconnects and updates again
    server.call(push.close_dashboards(code=1000))
    wait_until(lambda: browser.execute_script("return window.kbtcCloses"), "a close", 5)
    assert browser.execute_script("return window.kbtcCloses") == [1000]
    wait_until(lambda: ws_state(browser) == "dot open", "a reconnected socket", 10)
    reconnect = network_log(browser)
    assert any(e["method"] == "Network.webSocketClosed" for e in reconnect)
    assert any(e["method"] == "Network.webSocketCreated" for e in reconnect)
    distinct_spots(browser, 2, within_s=10)
    network += reconnect + network_log(browser)
    check_requests(network)

    # the operator presses pause; the daemon's entries stop
    unpaused_entries_s = [elapsed_s(e.ts) for e in entries(uninterrupted_run())]
    wait_until(lambda: server.entries, "a first entry by the daemon", 30)
    network += network_log(browser)
    check_requests(network)  # the whole watch, trades closing included: nothing polled
    press(browser, "Pause")
    wait_until(
        lambda: browser.execute_script(
            "return Array.from(document.querySelectorAll('#sidebar button'))"
            ".some(function (b) { return b.textContent.trim() === 'Resume'; });"
        ),
        "the Resume button",
        5,
    )
    daemon = server.daemon
    assert daemon is not None
    wait_until(lambda: daemon.controls.paused, "the daemon's pause", 5)
    paused_at = server.elapsed_s
    # the uninterrupted run's next entry: a stretch that covers it shows that the pause,
    # not the market, kept the lane flat
    upcoming = [t for t in unpaused_entries_s if t > paused_at]
    assert upcoming, f"the uninterrupted run enters no more after {paused_at} s"
    stretch_end = upcoming[0] + PAST_ENTRY_S
    wait_until(
        lambda: server.elapsed_s >= stretch_end,
        f"simulated time {stretch_end} s (the unpaused run enters at {upcoming[0]} s)",
        (stretch_end - paused_at) / SPEED + 20,
    )
    late = [(t - START) // 1000 for t in server.entries if (t - START) // 1000 > paused_at]
    assert late == [], f"entries after the pause at {paused_at} s: {late}"
    audit = ControlAudit.objects.get(action="trading_pause_set")
    assert (audit.actor_label, audit.source, audit.applied) == (
        operator.username,
        "dashboard",
        True,
    )

    # the daily PnL panel shows the trader's (simulated) days, pushed after each close
    def close_days() -> list[str]:
        counted = [c for c in server.closes if c.reason not in selectors.MECHANICAL_EXITS]
        return sorted({utc_day(c.ts) for c in counted})

    assert close_days(), "the daemon closed no trade to show"
    wait_until(lambda: daily_pnl_days(browser) == close_days(), "the daily PnL days", 10)

    # the trader's own report: pushed once a second, quiet while nothing is wrong
    wait_until(lambda: "Trader's DB: ok" in health_panel_text(browser), "the trader's report", 10)
    assert browser.find_elements(By.CSS_SELECTOR, "#health-panel .trouble.bad") == []

    screenshot(browser, "dashboard.png")

    # the closed-trades table: a push updates the newest page, and never a view the reader
    # filtered or paged (the page drops the pushed table, and requests nothing)
    watch_trade_pushes(browser)
    for n in range(26):  # older than the daemon's trades: the table has a second page
        recorded_trade(f"FILLER_{n}", closed_at_ms=START + n * 1000)
    network_log(browser)

    first = recorded_trade("PUSHED_1", closed_at_ms=server.now_ms)
    server.push_trade_closed(first)
    wait_until(lambda: "PUSHED_1" in trades_panel(browser), "the pushed trade", 10)

    set_trades_filter(browser, "exit_reason", "PUSHED_1")
    wait_until(lambda: "(1 trades)" in trades_panel(browser), "the filtered table", 10)
    assert requests_made(network_log(browser)) == ["/partials/trades/"]
    assert_push_is_dropped(browser, server, recorded_trade("PUSHED_2", server.now_ms))

    set_trades_filter(browser, "exit_reason", "")
    wait_until(lambda: "PUSHED_2" in trades_panel(browser), "the unfiltered table", 10)
    click_trades_button(browser, "older")
    wait_until(lambda: "page 2 of" in trades_panel(browser), "the second page", 10)
    assert requests_made(network_log(browser)) == ["/partials/trades/"] * 2
    assert_push_is_dropped(browser, server, recorded_trade("PUSHED_3", server.now_ms))

    click_trades_button(browser, "newer")
    wait_until(lambda: "page 1 of" in trades_panel(browser), "the first page", 10)
    network_log(browser)
    last = recorded_trade("PUSHED_4", closed_at_ms=server.now_ms)
    server.push_trade_closed(last)
    wait_until(lambda: "PUSHED_4" in trades_panel(browser), "the pushed trade on page 1", 10)
    assert requests_made(network_log(browser)) == []
