"""The live lane's wiring: its venue on the exchange account, its durable state, which
exchange (``KALSHI_ENV``), and what the operator controls do to it.

- ``live_refusal``: the one line a live start without a key and a named exchange gets
  (``KALSHI_ENV=demo|prod`` picks Kalshi's URLs, explicit ``KALSHI_API_URL`` and
  ``KALSHI_WS_URL`` win: ``kbtc_site.env``): never a silent default to production.
- ``build_live_venue``: a ``KalshiVenue`` with its state restored from the
  ``LivePositionState`` row (domain.md §3.17.8) and every transition written back there;
  round trips' money checks go to ``LiveTradeCheck`` rows. Its clock is the wall clock
  against a real exchange, the stream's event time against the simulator.
- ``LiveControls``: on every controls read the daemon hands it the controls; it pauses
  the live lane's entries unless the mode is live, gives the venue the trade limit,
  restarts the round-trip count when the count restarts, and runs close-all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog
from django.db import transaction

from kbtc_core.db import db_call
from marketdata.kalshi.rest import KalshiRestClient
from marketdata.kalshi.signing import KalshiSigner
from marketdata.model.units import MICROS_PER_DOLLAR
from trading.models import LivePositionState, LiveTradeCheck
from trading.venues.kalshi import EventClock, KalshiVenue, LiveSettings, VenueClock, WallClock
from trading.venues.live_position import PositionManagerState

log = structlog.get_logger(__name__)

LIVE_LANE = "live"


def live_refusal(kbtc: Mapping[str, Any]) -> str | None:
    """Why live mode may not start (one line), or None: it needs the exchange named
    (``KALSHI_ENV`` or both URLs, never a silent default to production) and a key."""
    if not kbtc["KALSHI_NAMED"]:
        return (
            "live mode refused: name the exchange with KALSHI_ENV=demo|prod or both "
            "KALSHI_API_URL and KALSHI_WS_URL (there is no default to production)"
        )
    if not kbtc["KALSHI_API_KEY_ID"] or not kbtc["KALSHI_PRIVATE_KEY_PATH"]:
        return "live mode refused: set KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH"
    return None


# --- durable state ------------------------------------------------------------------------


def load_live_state(lane: str = LIVE_LANE) -> PositionManagerState:
    row = LivePositionState.objects.filter(lane=lane).first()
    state = PositionManagerState.from_dict(row.data if row is not None else None)
    if row is not None and row.state != state.state:
        log.warning("live_state_restored", saved=row.state, restored=state.state)
    return state


def save_live_state(lane: str, data: dict[str, Any]) -> None:
    with transaction.atomic():
        LivePositionState.objects.update_or_create(
            lane=lane, defaults={"state": data["state"], "data": data}
        )


def _dollars(micros: int | None) -> Decimal | None:
    return None if micros is None else Decimal(micros) / MICROS_PER_DOLLAR


def record_live_check(check: dict[str, Any]) -> LiveTradeCheck:
    return LiveTradeCheck.objects.create(
        lane=check["lane"],
        ticker=check["ticker"],
        entry_client_order_id=check["entry_client_order_id"][:64],
        entry_order_id=check["entry_order_id"][:64],
        exit_order_ids=check["exit_order_ids"],
        reason=check["reason"][:40],
        entry_cost=_dollars(check["entry_cost"]),
        exit_proceeds=_dollars(check["exit_proceeds"]),
        fees=_dollars(check["fees"]),
        pnl=_dollars(check["pnl"]),
        wallet_at_entry=_dollars(check["wallet_at_entry"]),
        wallet_after_exit=_dollars(check["wallet_after_exit"]),
        wallet_pnl=_dollars(check["wallet_pnl"]),
        drift=_dollars(check["drift"]),
        flagged=check["flagged"][:500],
        fill_source=check["fill_source"][:40],
    )


async def build_live_venue(
    *,
    api_url: str,
    signer: KalshiSigner,
    simulated: bool,
    lane: str = LIVE_LANE,
    settings: LiveSettings | None = None,
    start_ms: int = 0,
) -> KalshiVenue:
    """The live lane's venue, its state restored from its row. ``simulated``: the
    exchange is the simulator, so the venue's clock is the stream's event time (the REST
    client's retry backoff too, bounded by as long in wall time: ``EventClock.backoff``)."""
    clock: VenueClock = EventClock(start_ms) if simulated else WallClock()
    rest = KalshiRestClient(api_url, signer, sleep=clock.backoff)
    state = await db_call(load_live_state)(lane)

    async def persist(data: dict[str, Any]) -> None:
        await db_call(save_live_state)(lane, data)

    async def record(check: dict[str, Any]) -> None:
        await db_call(record_live_check)(check)

    state.begin_run()  # this run's ids are its own (written before any order)
    await persist(state.to_dict())  # the row exists from now on: the live lane exists
    venue = KalshiVenue(
        rest,
        lane=lane,
        clock=clock,
        state=state,
        persist=persist,
        record_check=record,
        settings=settings,
    )
    log.info("live_venue_ready", url=api_url, state=state.state, simulated=simulated)
    return venue


async def exchange_balance(venue: KalshiVenue) -> int:
    """The live bankroll: the exchange account's available balance (micro-dollars)."""
    return (await venue.rest.get_balance()).balance


# --- controls -------------------------------------------------------------------------------


@dataclass
class LiveControls:
    """What the operator controls do to the live lane (interfaces.md §8)."""

    venue: KalshiVenue
    lane: str = LIVE_LANE
    count_since: int | None = None
    close_all_handled: int | None = None

    def apply(self, controls: Any, session: Any) -> list[Any]:
        """Apply a controls read; returns the session outputs a close-all produced."""
        live = controls.trading_mode == "live"
        session.set_lanes_paused(frozenset() if live else frozenset({self.lane}))
        limit = controls.live_trade_limit
        self.venue.trade_limit = lambda: limit
        since = controls.live_trade_count_since_ms
        if since != self.count_since:
            if self.count_since is not None:
                # The count restarts (an unpause under a limit, or a limit set with reset).
                self.venue.state.round_trips = 0
                self.venue.state.touch()
            self.count_since = since
        seq = controls.close_all_seq
        if self.close_all_handled is None:
            self.close_all_handled = controls.close_all_handled_seq
        if seq <= self.close_all_handled:
            return []
        self.close_all_handled = seq
        held = self.venue.state.position
        exclude = frozenset({held.ticker}) if held is not None else frozenset()
        log.warning("live_close_all", seq=seq, held=sorted(exclude))
        self.venue.close_exchange_positions(exclude=exclude)
        return list(session.close_all("CLOSE_ALL", lane=self.lane))
