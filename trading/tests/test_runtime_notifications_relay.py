"""The daemon's notifications sink: the runtime's own news reaches the operator's channels
(start with the lanes' bankrolls, a feed going down and coming back, the database refusing
writes, the stop), and a closed trade from the records, all without the loop waiting."""

from __future__ import annotations

import asyncio
import threading

from trading.engine.engine import Engine
from trading.engine.params import DEFAULT_PARAMS
from trading.notifications.embeds import Post
from trading.notifications.sink import NotificationSink
from trading.runtime.sinks.notifications import NotificationsRelay

CHANNELS = ("trades", "risk", "heartbeat", "errors")


async def test_the_runtime_news_reaches_the_channels_in_order():
    posts: list[Post] = []
    sent = threading.Event()

    def dispatch(post: Post) -> None:
        posts.append(post)
        sent.set()

    feeds = [{"name": "kalshi", "state": "connected"}]
    db = ["ok"]
    notifier = NotificationSink(channels=CHANNELS, dispatch=dispatch, wall=lambda: 0.0)
    relay = NotificationsRelay(
        notifier, feeds_health=lambda: feeds, db_state=lambda: db[0], watch_every_s=0.01
    )
    engine = Engine(DEFAULT_PARAMS, ("paper",), 1_000_000_000)
    relay.start(engine.start_records(), restored=True)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    await asyncio.sleep(0.05)
    feeds[0]["state"] = "reconnecting"
    db[0] = "retrying (3 writes waiting): connection refused"
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(running, 10)

    titles = [post.payload["embeds"][0]["title"] for post in posts]
    assert titles[0].startswith("[PAPER]")
    assert "start" in titles[0].lower()
    assert "$1,000.00" in str(posts[0].payload)  # the lane's bankroll from its status record
    assert any("kalshi" in str(p.payload) for p in posts)
    assert any("connection refused" in str(p.payload) for p in posts)
    assert "stop" in titles[-1].lower()
