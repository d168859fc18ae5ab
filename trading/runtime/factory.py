"""The one way to assemble a daemon (``build_daemon``), and the production wiring on the
exchange feeds (``build_network_daemon``).

``build_daemon`` takes the feeds, the warm-up source, the recorder and any extra sinks,
and wires what every daemon needs: the standard sinks (inside ``Daemon``) and, for a
network feed, the held contracts it must keep subscribed. ``run_trader``, the demo, the
end-to-end tests and the latency benchmark all come through here.

``build_network_daemon`` connects the network clients to the exchange named by
``ExchangeEndpoints``: by default the settings (``KALSHI_API_URL``, ``KALSHI_WS_URL``,
``COINBASE_WS_URL``, ``KALSHI_API_KEY_ID``, ``KALSHI_PRIVATE_KEY_PATH``,
``WALL_CLOCK_TICKS``), or whatever the caller names (the demo's own simulator), so
nothing rewrites the settings at run time. It warms up from the candles table (the
back-fill command and the recorder fill it). The simulator is not imported here: only
the demo's wiring (``trading.runtime.embedded``) and the tests use it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings

from marketdata.kalshi.config import signer_from_settings
from marketdata.kalshi.signing import KalshiSigner
from marketdata.recorder import Recorder
from mlgate.sink import FeaturesSink, ModelWatch
from trading.notifications.sink import NotificationSink
from trading.runtime.daemon import CandleSource, Daemon, DaemonConfig, Feed
from trading.runtime.live import LIVE_LANE, LiveControls, build_live_venue, exchange_balance
from trading.runtime.live_safety import live_safety_sink
from trading.runtime.network import NetworkFeed
from trading.runtime.session import VenueFactory
from trading.runtime.sinks import Sink
from trading.runtime.sinks.held import HeldContractsSink
from trading.runtime.sinks.held_status import HeldStatusSink
from trading.runtime.sinks.notifications import NotificationsRelay
from trading.runtime.warmup import table_candles
from trading.venues.base import Venue
from trading.venues.paper import PaperVenue

log = structlog.get_logger(__name__)


def build_daemon(
    config: DaemonConfig | None = None,
    *,
    start_ts: int,
    candles: CandleSource,
    feeds: Sequence[Feed] = (),
    recorder: Recorder | None = None,
    sinks: Sequence[Sink] = (),
    venues: VenueFactory | None = None,
    notify: bool = True,
    live: LiveControls | None = None,
) -> Daemon:
    """``notify``: post to the Discord channels that are configured (none: no posts)."""
    config = config or DaemonConfig()
    extra = list(sinks)
    networks = [feed for feed in feeds if isinstance(feed, NetworkFeed)]
    if networks:
        # A held contract stays subscribed through a rotation of the active market.
        held = HeldContractsSink()
        for feed in networks:
            feed.positions = held.positions
        extra.insert(0, held)
    watch = ModelWatch(poll_s=config.model_poll_s)
    daemon = Daemon(
        config,
        feeds=feeds,
        candles=candles,
        recorder=recorder,
        start_ts=start_ts,
        venues=venues,
        sinks=extra,
        predictor=watch.load,
        live=live,
    )
    # The gate's model follows the active version (a promotion) without a restart.
    watch.apply = lambda predictor, error: (
        daemon.session.set_predictor(predictor, error) if daemon.session is not None else None
    )
    daemon.sinks.append(watch)
    for feed in networks:
        daemon.sinks.append(HeldStatusSink(feed, daemon.on_event))
    # The ML gate's training rows: entry features and exit labels, on the daemon's writer.
    daemon.sinks.append(FeaturesSink(daemon.writer))
    if notify:
        mode = "live" if "live" in config.lanes else "paper"
        relay = NotificationsRelay(
            NotificationSink(mode=mode),
            feeds_health=lambda: [s for f in networks for s in f.health()],
            db_state=daemon.writer.state,
        )
        daemon.sinks.append(relay)
    return daemon


@dataclass(frozen=True)
class ExchangeEndpoints:
    kalshi_api_url: str
    kalshi_ws_url: str
    coinbase_ws_url: str
    signer: KalshiSigner
    wall_clock_ticks: bool

    @classmethod
    def from_settings(cls) -> ExchangeEndpoints:
        kbtc = settings.KBTC
        return cls(
            kalshi_api_url=kbtc["KALSHI_API_URL"],
            kalshi_ws_url=kbtc["KALSHI_WS_URL"],
            coinbase_ws_url=kbtc["COINBASE_WS_URL"],
            signer=signer_from_settings(),
            wall_clock_ticks=kbtc["WALL_CLOCK_TICKS"],
        )


def table_warmup(before_ts: int) -> list[Any]:
    candles = table_candles(before_ts, count=60)
    if len(candles) < 20:
        log.warning(
            "warmup_candles_missing",
            found=len(candles),
            before_ts=before_ts,
            hint="run manage.py backfill_klines for the day before the start",
        )
    return candles


async def build_network_daemon(
    *,
    endpoints: ExchangeEndpoints | None = None,
    start_ms: int | None = None,
    latency_ms: int = 200,
    refresh_s: float = 60.0,
    recorder: bool = True,
    sinks: Sequence[Sink] = (),
    live: bool = False,
) -> Daemon:
    """The daemon on the exchange clients, prepared (restored or started). ``live`` adds
    the live lane: its venue on the exchange account of ``endpoints`` (the fill stream
    on the Kalshi socket), its bankroll the account's balance, entries only while the
    trading mode is live (``trading.runtime.live``)."""
    endpoints = endpoints or ExchangeEndpoints.from_settings()
    start = int(time.time() * 1000) if start_ms is None else start_ms
    config = DaemonConfig(latency_ms=latency_ms)
    venues: VenueFactory | None = None
    controls: LiveControls | None = None
    if live:
        venue = await build_live_venue(
            api_url=endpoints.kalshi_api_url,
            signer=endpoints.signer,
            simulated=not endpoints.wall_clock_ticks,
            start_ms=start,
        )
        balance = await exchange_balance(venue)
        paper = PaperVenue(latency_ms)

        def venues(lanes: Sequence[str]) -> dict[str, Venue]:
            return {lane: venue if lane == LIVE_LANE else paper for lane in lanes}

        config = DaemonConfig(
            latency_ms=latency_ms,
            lanes=("paper", LIVE_LANE),
            bankroll={"paper": config.bankroll, LIVE_LANE: balance},  # type: ignore[dict-item]
        )
        controls = LiveControls(venue)
        log.info("live_lane_on", exchange=endpoints.kalshi_api_url, balance=balance)
    feed = NetworkFeed(
        kalshi_api_url=endpoints.kalshi_api_url,
        kalshi_ws_url=endpoints.kalshi_ws_url,
        coinbase_ws_url=endpoints.coinbase_ws_url,
        signer=endpoints.signer,
        series_ticker=settings.KBTC["SERIES_TICKER"],
        refresh_s=refresh_s,
        wall_clock_ticks=endpoints.wall_clock_ticks,
        account_channels=("fill",) if live else (),
    )
    if controls is not None:
        # #22: reconciliation at start (entries refused until it passes), after every
        # Kalshi reconnect and periodically; the orphan check while orphans exist.
        sinks = [*sinks, live_safety_sink(controls.venue, feed)]
    daemon = build_daemon(
        config,
        start_ts=start,
        candles=table_warmup,
        feeds=[feed],
        recorder=Recorder(label="run_trader") if recorder else None,
        sinks=sinks,
        venues=venues,
        live=controls,
    )
    await daemon.prepare()
    return daemon
