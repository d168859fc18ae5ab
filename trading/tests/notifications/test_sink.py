"""The trader's notification sink driven with engine records, posting through the Celery
task (eager, as the embedded profile runs it) to a real local webhook server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from trading.notifications.sink import NotificationSink
from trading.notifications.status import channel_states
from trading.tests.notifications import records
from trading.tests.notifications.records import T0, TICKER
from trading.tests.notifications.webhook import Answer

pytestmark = pytest.mark.usefixtures("webhooks", "eager")

MINUTE = 60_000
HOUR = 60 * MINUTE
BANKROLL = 1_000_000_000  # $1,000


class Wall:
    """The sink's wall clock (monotonic seconds), moved by the test."""

    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


def new_sink(**options) -> NotificationSink:
    options.setdefault("wall", Wall())
    options.setdefault("bankrolls", {"paper": BANKROLL})
    return NotificationSink(**options)


@contextlib.asynccontextmanager
async def running(sink: NotificationSink) -> AsyncIterator[NotificationSink]:
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    try:
        yield sink
    finally:
        stop.set()
        await task


async def posts(server, count):
    return await asyncio.to_thread(server.wait_for, count)


async def test_a_paper_trade_opened_posts_to_trades_with_its_entry(server):
    async with running(new_sink()) as sink:
        sink.consume([records.opened()], T0)
        [post] = await posts(server, 1)

    assert post.channel == "trades"
    assert post.title == f"[PAPER] Trade opened: LONG {TICKER}"
    assert post.field("Side") == "YES"
    assert post.field("Entry (YES)") == "42¢"
    assert post.field("Contracts") == "10"
    assert post.field("Conviction") == "HIGH"
    assert post.field("OBI") == "0.712"
    assert post.field("ROC") == "0.450"
    assert post.embed["timestamp"] == "2026-09-21T13:30:00Z"


async def test_a_live_trade_is_copied_to_live_trades_with_the_live_badge(server):
    async with running(new_sink(mode="live")) as sink:
        sink.consume([records.opened(lane="live", direction="SHORT")], T0)
        found = await posts(server, 2)

    assert sorted(post.channel for post in found) == ["live_trades", "trades"]
    assert {post.title for post in found} == {f"[LIVE] Trade opened: SHORT {TICKER}"}
    assert found[0].field("Side") == "NO"


async def test_a_trade_closed_posts_its_result_and_the_bankroll_after_it(server):
    async with running(new_sink()) as sink:
        sink.consume([records.closed()], T0 + 312_000)
        [post] = await posts(server, 1)

    assert post.channel == "trades"
    assert post.title == f"[PAPER] Trade closed: LONG {TICKER} $0.10"
    assert post.field("Entry (YES)") == "42¢"
    assert post.field("Exit (YES)") == "46.5¢"
    assert post.field("PnL") == "$0.10"
    assert post.field("PnL %") == "+2.38%"
    assert post.field("Reason") == "TAKE_PROFIT"
    assert post.field("Held") == "5m 12s"
    assert post.field("Bankroll") == "$1,000.10"


async def test_a_live_close_is_copied_and_reviewed_on_live_trades(server):
    async with running(new_sink(mode="live", bankrolls={"live": 200_000_000})) as sink:
        record = records.closed(lane="live", pnl=-900_000, pnl_frac=-0.2, reason="STOP_LOSS")
        sink.consume([record], T0 + 312_000)
        await posts(server, 3)

    trades, copy, review = server.posts
    assert trades.channel == "trades"
    assert copy.channel == "live_trades"
    assert copy.title == trades.title == f"[LIVE] Trade closed: LONG {TICKER} -$0.90"
    assert review.channel == "live_trades"
    assert review.title == f"[LIVE] Post-trade review: {TICKER}"
    assert review.field("Result") == "LOSS"
    assert review.field("Bankroll") == "$199.10"
    assert review.embed["description"] == "Anomalies: loss worse than -10 %"


async def test_the_live_review_falls_back_to_trades_when_live_trades_is_off(server, settings):
    settings.KBTC = {**settings.KBTC, "DISCORD_WEBHOOKS": {"trades": server.url("trades")}}
    async with running(new_sink(mode="live")) as sink:
        sink.consume([records.closed(lane="live")], T0 + 312_000)
        await posts(server, 2)

    assert [post.channel for post in server.posts] == ["trades", "trades"]
    assert server.posts[1].field("Result") == "WIN"
    assert server.posts[1].embed["description"] == "No anomalies."


async def test_a_quarantined_trade_goes_to_errors_and_leaves_the_bankroll(server):
    async with running(new_sink()) as sink:
        record = records.closed(quarantine="INSTANT_STOP_LOSS", reason="STOP_LOSS", pnl=-500_000)
        sink.consume([record], T0 + 312_000)
        found = await posts(server, 2)

    errors = [post for post in found if post.channel == "errors"]
    trades = [post for post in found if post.channel == "trades"]
    assert errors[0].title == "[PAPER] Trade quarantined: INSTANT_STOP_LOSS"
    assert errors[0].field("PnL") == "-$0.50"
    assert trades[0].field("Bankroll") == "$1,000.00"


async def test_the_breaker_posts_when_it_trips_and_when_it_clears(server):
    async with running(new_sink()) as sink:
        sink.consume([records.breaker()], T0)
        sink.consume([records.breaker(reason="", bankroll=941_000_000)], T0 + 1000)
        tripped, cleared = await posts(server, 2)

    assert tripped.channel == cleared.channel == "risk"
    assert tripped.title == "[PAPER] Circuit breaker tripped: DAILY_LOSS"
    assert tripped.field("Bankroll") == "$940.00"
    assert "halted" in tripped.embed["description"]
    assert cleared.title == "[PAPER] Circuit breaker cleared"
    assert cleared.field("Bankroll") == "$941.00"


async def test_a_regime_change_posts_to_risk(server):
    async with running(new_sink()) as sink:
        sink.consume([records.regime()], T0)
        [post] = await posts(server, 1)

    assert post.channel == "risk"
    assert post.title == "[PAPER] ATR regime: MEDIUM → HIGH"
    assert post.field("ATR %") == "0.550"


async def test_a_sizing_failure_posts_to_risk_but_other_skips_do_not(server):
    async with running(new_sink()) as sink:
        sink.consume([records.decision(reason="NO_SIGNAL")], T0)
        sink.consume([records.decision(lane="live")], T0 + 1000)
        [post] = await posts(server, 1)

    assert post.channel == "risk"
    assert post.title == "[LIVE] Position sizing failed"
    assert post.field("YES price") == "99.5¢"
    assert post.field("Ticker") == TICKER


async def test_the_heartbeat_comes_a_minute_after_the_start_with_spot_ticker_and_lanes(server):
    async with running(new_sink()) as sink:
        sink.consume([], T0)
        sink.consume([records.candle(64123.5), records.decision(reason="NO_SIGNAL")], T0 + 30_000)
        sink.consume([records.opened()], T0 + 40_000)
        sink.consume([], T0 + 59_999)
        await posts(server, 1)
        sink.consume([], T0 + MINUTE)
        await posts(server, 2)

    [beat] = server.on("heartbeat")
    assert beat.title == "[PAPER] Heartbeat"
    assert beat.field("Uptime") == "1m 0s"
    assert beat.field("BTC spot") == "$64,123.50"
    assert beat.field("Ticker") == TICKER
    assert beat.field("paper") == f"$1,000.00 · LONG 10 {TICKER} @ 42¢"


async def test_summaries_follow_the_trading_clock_and_count_only_their_period(server):
    wall = Wall()
    sink = new_sink(wall=wall)

    async def next_heartbeat_post(count):
        wall.now += 60  # the heartbeat channel's wall minute
        sink.release()
        found = await asyncio.to_thread(server.wait_for, count, "heartbeat")
        return found[count - 1]

    async with running(sink):
        sink.consume([], T0)  # 13:30 UTC
        sink.consume([records.closed(ts=T0 + HOUR)], T0 + HOUR)  # the first heartbeat
        sink.consume([records.closed(ts=T0 + 2 * HOUR, pnl=-300_000)], T0 + 2 * HOUR)
        sink.consume([], T0 + 150 * MINUTE)  # 16:00: the 4-hour boundary
        four_hour = await next_heartbeat_post(2)
        sink.consume([records.closed(ts=T0 + 9 * HOUR)], T0 + 9 * HOUR)  # 22:30
        sink.consume([], T0 + 10 * HOUR + 30 * MINUTE)  # 00:00 the next day
        daily = await next_heartbeat_post(3)
        sink.consume([records.closed(ts=T0 + 11 * HOUR)], T0 + 11 * HOUR)
        sink.consume([], T0 + 34 * HOUR + 30 * MINUTE)  # 00:00 the day after
        next_daily = await next_heartbeat_post(4)

    assert server.on("heartbeat")[0].title == "[PAPER] Heartbeat"
    assert four_hour.title == "[PAPER] 4-hour summary"
    assert four_hour.embed["description"] == "Net PnL -$0.20"
    assert four_hour.field("paper") == "2 trades · 1 won (50%) · PnL -$0.20 · fees $0.70"
    assert four_hour.embed["footer"]["text"] == (
        "trades closed in [2026-09-21 13:30, 2026-09-21 16:00) UTC"
    )
    assert daily.title == "[PAPER] Daily summary"
    assert daily.field("paper").startswith("3 trades · 2 won")
    assert next_daily.title == "[PAPER] Daily summary"
    assert next_daily.field("paper").startswith("1 trades")  # that day's only (§11.1)
    assert next_daily.embed["footer"]["text"] == (
        "trades closed in [2026-09-22 00:00, 2026-09-23 00:00) UTC"
    )


async def test_time_based_posts_are_throttled_to_one_per_channel_per_wall_minute(server):
    wall = Wall()
    sink = new_sink(wall=wall)
    async with running(sink):
        for minute in range(0, 181):  # 3 trading hours in one wall instant: 13:30 → 16:30
            sink.consume([], T0 + minute * MINUTE)
        await posts(server, 1)
        sink.release()
        wall.now += 59.9
        sink.release()
        wall.now += 0.1
        sink.release()  # the most important of what waited: the 4-hour summary
        await posts(server, 2)
        wall.now += 60
        sink.release()  # then the newest heartbeat
        await posts(server, 3)
        wall.now += 600
        sink.release()
        await asyncio.sleep(0.2)

    titles = [post.title for post in server.posts]
    assert titles == ["[PAPER] Heartbeat", "[PAPER] 4-hour summary", "[PAPER] Heartbeat"]
    assert server.posts[0].field("Uptime") == "1m 0s"
    assert server.posts[2].field("Uptime") == "2h 31m"


async def test_start_and_stop_post_to_errors_with_uptime_and_bankroll(server):
    async with running(new_sink(bankrolls={})) as sink:
        sink.trader_started(bankrolls={"paper": BANKROLL}, restored=True)
        sink.consume([], T0)
        sink.consume([], T0 + 59_000)
        sink.trader_stopped()

    started, stopped = server.wait_for(2)
    assert started.channel == stopped.channel == "errors"
    assert started.title == "[PAPER] Trader started (restored)"
    assert started.field("paper bankroll") == "$1,000.00"
    assert stopped.title == "[PAPER] Trader stopped"
    assert stopped.field("Uptime") == "0m 59s"


async def test_a_flapping_feed_posts_once_per_interval_with_a_count(server):
    wall = Wall()
    sink = new_sink(wall=wall, burst_interval_s=300)
    async with running(sink):
        sink.feed_state_changed("kalshi", "connecting")  # the first connect is not news
        sink.feed_state_changed("kalshi", "connected")
        sink.feed_state_changed("kalshi", "reconnecting")
        for _ in range(4):
            wall.now += 10
            sink.feed_state_changed("kalshi", "connected")
            sink.feed_state_changed("kalshi", "reconnecting")
        sink.feed_state_changed("kalshi", "connected")
        await posts(server, 1)
        wall.now += 250
        sink.release()  # 290 s after the first post: still inside the interval
        await asyncio.sleep(0.2)
        assert len(server.posts) == 1
        wall.now += 10
        sink.release()
        await posts(server, 2)
        wall.now += 400
        sink.release()  # nothing held back: nothing to say
        await asyncio.sleep(0.2)

    first, summary = server.posts
    assert first.channel == "errors"
    assert first.title == "[PAPER] Feed kalshi: reconnecting"
    assert summary.title == "[PAPER] Feed kalshi: connected"
    assert "9 more since the last post" in summary.embed["description"]
    assert len(server.posts) == 2


async def test_a_repeated_db_error_posts_again_after_the_interval_with_its_count(server):
    wall = Wall()
    sink = new_sink(wall=wall, burst_interval_s=300)
    async with running(sink):
        for text in ("OperationalError: connection refused", "retrying", "retrying"):
            sink.db_error(text)
        wall.now += 301
        sink.db_error("OperationalError: still refused")  # after the interval: posts at once
        await posts(server, 2)

    first, second = server.posts
    assert first.title == "[PAPER] Database error"
    assert first.embed["description"] == "OperationalError: connection refused"
    assert second.embed["description"].startswith("OperationalError: still refused\n2 more")


async def test_an_event_the_session_failed_on_posts_to_errors(server):
    async with running(new_sink()) as sink:
        sink.event_failed("book_delta", "KeyError: 'KXBTC15M-X'")
        [post] = await posts(server, 1)

    assert post.channel == "errors"
    assert post.title == "[PAPER] Event failed: book_delta"
    assert (
        post.embed["description"] == "The trader skipped it and trades on.\nKeyError: 'KXBTC15M-X'"
    )


async def test_a_channel_without_a_webhook_is_off_and_quiet(server, settings):
    settings.KBTC = {**settings.KBTC, "DISCORD_WEBHOOKS": {"trades": server.url("trades")}}
    async with running(new_sink()) as sink:
        sink.consume([records.breaker(), records.regime(), records.opened()], T0)
        sink.trader_started()
        await posts(server, 1)
        await asyncio.sleep(0.2)

    assert [post.channel for post in server.posts] == ["trades"]
    states = {row["channel"]: row["state"] for row in channel_states()}
    assert states == {
        "trades": "ok",
        "live_trades": "off",
        "risk": "off",
        "heartbeat": "off",
        "errors": "off",
        "attribution": "off",
    }


async def test_a_refused_post_makes_its_channel_failing_until_one_succeeds(server):
    server.script(Answer(400, body=b'{"message": "Invalid Webhook Token"}'))
    async with running(new_sink()) as sink:
        sink.consume([records.opened()], T0)
        await posts(server, 1)
        await asyncio.sleep(0.2)
        failing = {row["channel"]: row for row in channel_states()}["trades"]
        sink.consume([records.closed()], T0 + 312_000)
        await posts(server, 2)
        await asyncio.sleep(0.2)

    assert failing["state"] == "failing"
    assert failing["last_error"] == 'HTTP 400: {"message": "Invalid Webhook Token"}'
    assert {row["channel"]: row for row in channel_states()}["trades"]["state"] == "ok"


async def test_the_trader_keeps_trading_while_the_webhook_hangs(server):
    server.hang()
    sink = new_sink(queue_max=50)
    async with running(sink):
        sink.consume([records.opened(position_uid="first")], T0)
        await asyncio.to_thread(server.wait_for, 1)  # the sending thread is now held
        for n in range(1000):
            sink.consume([records.opened(position_uid=f"p{n}")], T0)
        # Every consume returned while the one post in flight is still held.
        assert server.in_flight == 1
        assert len(server.posts) == 1
        assert sink.waiting == 50
        assert sink.dropped == 950
        server.release()
        await asyncio.to_thread(server.wait_for, 51)

    footers = [post.embed["footer"]["text"] for post in server.posts]
    assert footers[0] == "paper · first"
    assert footers[1:] == [f"paper · p{n}" for n in range(950, 1000)]  # the newest kept


async def test_a_record_that_cannot_be_formatted_never_reaches_the_trading_loop(server):
    async with running(new_sink()) as sink:
        sink.consume([records.closed(pnl_frac=None)], T0)  # a bug upstream: no PnL fraction
        sink.consume([records.opened()], T0)
        [post] = await posts(server, 1)

    assert sink.errors == 1
    assert post.title.startswith("[PAPER] Trade opened")
