"""Reconciliation of the live lane with the exchange account (domain.md §3.17.7, §3.17.8).

The exchange's positions are the truth. ``plan`` (pure) compares them with the position
manager's state and says what to do; ``apply`` (pure) does it to the state; ``Reconciler``
reads the exchange, runs both under the venue's lock, places the one order reconciliation
may place (closing an oversized position at once), persists, and reports.

For every non-zero position of our series (``KXBTC``/``KXETH`` prefixes):

- the tracked ticker → the tracked count is **set** to the exchange's (never added to); the
  other side held → DESYNC (a human must look);
- an orphan's ticker → re-adopted: the count replaced (BUG-015);
- otherwise skipped when the ticker is in the settled set, or in its 90 s exit cooldown
  (a stale position just after an exit or a settlement, incidents 451/454), or its market
  is closed (then it joins the settled set); closed at once when larger than
  3 × ``max_live_contracts``; else adopted as an orphan (``RECONCILE``).
- The tracked position missing on the exchange (outside ENTERING/EXITING) while its
  market is open → a ghost: cleared, FLAT. Its market closed (or unreadable) → left to
  settlement: the exchange settles before the lane sees the result.
- DESYNC resolves: the tracked position confirmed → OPEN; none held → FLAT.
- Whenever a pass set the count, cleared a ghost or resolved a desync, the engine is told
  the tracked position (``PositionCorrection``: its lane's position becomes the
  exchange's, a ghost leaves it flat with no payout booked) and the account's cash
  (``KalshiVenue.sync_balance``).

At start, before the first reconciliation, every resting order of our series is cancelled
(a previous run's). The lane refuses entries until a start reconciliation has passed
(``Reconciler.gate``, one of the venue's ``entry_gates``); the reason shows in ``health``.
Afterwards it runs after every reconnect (``request``) and periodically; the orphan check
runs periodically while orphans exist.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from marketdata.kalshi.errors import KalshiError
from marketdata.model.events import Side
from marketdata.model.units import PRICE_MAX
from trading.venues.kalshi import KalshiVenue
from trading.venues.live_position import PositionManagerState
from trading.venues.orphans import CLOSED_PHASES, OrphanClose, check_orphans, exposure

log = structlog.get_logger(__name__)

SERIES_PREFIXES = ("KXBTC", "KXETH")
OVERSIZE_FACTOR = 3  # × max_live_contracts

Kind = Literal[
    "set_count",
    "adopt",
    "readopt",
    "close_oversized",
    "mark_settled",
    "skip_settled",
    "skip_cooldown",
    "skip_settling",
    "clear_ghost",
    "desync",
    "resolve_desync",
]


# The actions that move the tracked position: the engine is told after them.
TOLD = frozenset({"set_count", "clear_ghost", "resolve_desync"})


@dataclass(frozen=True, slots=True)
class Held:
    """One exchange position: signed hundredths (+ YES, − NO), what the open position cost
    and the fees paid on it (micro-dollars; None when the exchange did not say)."""

    ticker: str
    signed: int
    cost: int | None = None
    fees: int | None = None


@dataclass(frozen=True, slots=True)
class Action:
    kind: Kind
    ticker: str
    signed: int = 0
    cost: int | None = None
    fees: int | None = None
    why: str = ""


def ours(ticker: str, prefixes: Sequence[str] = SERIES_PREFIXES) -> bool:
    return ticker.startswith(tuple(prefixes))


def needs_market(
    state: PositionManagerState,
    held: Sequence[Held],
    now: int,
    prefixes: Sequence[str] = SERIES_PREFIXES,
) -> list[str]:
    """The tickers whose market status ``plan`` needs: untracked, unorphaned, unsettled
    positions outside their cooldown."""
    tracked = state.position.ticker if state.position else None
    wanted = [
        h.ticker
        for h in held
        if h.signed
        and ours(h.ticker, prefixes)
        and h.ticker != tracked
        and h.ticker not in state.orphans
        and h.ticker not in state.settled_tickers
        and state.cooldowns.get(h.ticker, 0) <= now
    ]
    if tracked is not None and not any(h.ticker == tracked and h.signed for h in held):
        wanted.append(tracked)  # a ghost only if its market is open (else: settling)
    return wanted


def plan(
    state: PositionManagerState,
    held: Sequence[Held],
    *,
    now: int,
    closed: Mapping[str, bool],
    max_count: int,
    prefixes: Sequence[str] = SERIES_PREFIXES,
) -> list[Action]:
    """What to do so the state agrees with the exchange. ``closed``: ticker → whether its
    market is closed (a ticker missing there could not be read: treated as open, so the
    position is adopted and blocks entries: the safe side). ``max_count``: hundredths
    above which an untracked position is closed at once."""
    by_ticker = {h.ticker: h for h in held if h.signed and ours(h.ticker, prefixes)}
    actions: list[Action] = []
    position = state.position
    if position is not None:
        mine = by_ticker.pop(position.ticker, None)
        if state.state in ("ENTERING", "EXITING"):
            pass  # its order's outcome sets the count (after a restart: the venue's start)
        elif mine is None:
            if closed.get(position.ticker, True):
                # Its market closed (or could not be read): the exchange settled it before
                # the lane saw the result; settlement, not reconciliation, closes it.
                actions.append(Action("skip_settling", position.ticker, why="settling"))
            else:
                actions.append(Action("clear_ghost", position.ticker, why="not on the exchange"))
                if state.state == "DESYNC":
                    actions.append(Action("resolve_desync", position.ticker, 0))
        elif (mine.signed > 0) != (position.side == "yes"):
            actions.append(
                Action(
                    "desync",
                    position.ticker,
                    mine.signed,
                    why=f"we hold {position.side} but the exchange {mine.signed / 100:+.2f}",
                )
            )
        else:
            if mine.signed != position.signed:
                actions.append(Action("set_count", position.ticker, mine.signed))
            if state.state == "DESYNC":
                actions.append(Action("resolve_desync", position.ticker, mine.signed))
    elif state.state == "DESYNC":
        actions.append(Action("resolve_desync", "", 0))
    adopt_at_end = [a for a in actions if a.kind == "resolve_desync"]
    actions = [a for a in actions if a.kind != "resolve_desync"]
    for ticker, h in sorted(by_ticker.items()):
        if ticker in state.orphans:
            known = state.orphans[ticker]
            if known.signed == h.signed and known.cost:
                # What the lane knows it cost stays: the exchange's fees are the market's
                # since it opened (an earlier round trip's included).
                actions.append(Action("readopt", ticker, h.signed))
            else:
                actions.append(Action("readopt", ticker, h.signed, h.cost, h.fees))
        elif ticker in state.settled_tickers:
            actions.append(Action("skip_settled", ticker, h.signed, why="settled"))
        elif state.cooldowns.get(ticker, 0) > now:
            actions.append(Action("skip_cooldown", ticker, h.signed, why="exit cooldown"))
        elif closed.get(ticker, False):
            actions.append(Action("mark_settled", ticker, h.signed, why="market closed"))
        elif abs(h.signed) > max_count:
            actions.append(Action("close_oversized", ticker, h.signed, h.cost, h.fees))
        else:
            actions.append(Action("adopt", ticker, h.signed, h.cost, h.fees))
    return actions + adopt_at_end


def apply(state: PositionManagerState, actions: Sequence[Action], now: int) -> list[str]:
    """Do ``actions`` (without ``close_oversized``, which needs the exchange) to the state;
    returns the tickers newly adopted as orphans."""
    new: list[str] = []
    for action in actions:
        ticker = action.ticker
        if action.kind == "set_count" and state.position is not None:
            log.warning(
                "live_reconcile_count",
                ticker=ticker,
                ours=state.position.signed,
                exchange=action.signed,
            )
            state.position.count = abs(action.signed)
            state.touch()
        elif action.kind in ("adopt", "readopt"):
            if action.kind == "adopt":
                new.append(ticker)
            state.adopt_orphan(
                ticker, action.signed, "RECONCILE", now, cost=action.cost, fees=action.fees
            )
        elif action.kind == "mark_settled":
            if ticker not in state.settled_tickers:
                state.settled_tickers.append(ticker)
                state.touch()
        elif action.kind == "clear_ghost":
            log.warning("live_reconcile_ghost", ticker=ticker)
            state.position = None
            if state.state in ("OPEN", "PARTIAL_EXIT"):
                state.to("FLAT")
            state.touch()
        elif action.kind == "desync":
            state.desync(action.why)
        elif action.kind == "resolve_desync" and state.state == "DESYNC":
            tracked = state.position.ticker if state.position else None
            state.resolve_desync(
                exchange_signed=action.signed if ticker == tracked else 0,
                ticker=tracked,
            )
    return new


# --- the runner ---------------------------------------------------------------------------


RecordClose = Callable[[OrphanClose], Awaitable[Any]]
OrphansChanged = Callable[[PositionManagerState], Awaitable[None]]
Notify = Callable[[str, str], Awaitable[None]]


async def _nothing(*args: Any) -> None:
    return None


@dataclass
class Report:
    """What one reconciliation saw and did (plain values, for health and tests)."""

    why: str
    ts: int
    ok: bool
    error: str = ""
    actions: list[Action] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)


class Reconciler:
    """Reconciliation and the orphan check of one live venue, on its clock and lock."""

    def __init__(
        self,
        venue: KalshiVenue,
        *,
        max_contracts: Callable[[], int] = lambda: 50,
        prefixes: Sequence[str] = SERIES_PREFIXES,
        every_s: float = 15.0,
        orphan_every_s: float = 15.0,
        record_close: RecordClose = _nothing,
        orphans_changed: OrphansChanged = _nothing,
        notify: Notify = _nothing,
    ) -> None:
        self.venue = venue
        self.max_contracts = max_contracts
        self.prefixes = tuple(prefixes)
        self.every_s = every_s
        self.orphan_every_s = orphan_every_s
        self.record_close = record_close
        self.orphans_changed = orphans_changed
        self.notify = notify
        self.passed = False
        self.reason = "start reconciliation not run yet"
        self.reports: list[Report] = []
        self._wake = asyncio.Event()
        self._requested: list[str] = []
        self._last_run = 0
        self._last_orphan_check = 0
        self._synced: dict[str, tuple[int, str, int, int, bool]] | None = None
        venue.entry_gates.append(self.gate)

    # --- gates and triggers ---------------------------------------------------------------

    def gate(self) -> str:
        return "" if self.passed else f"reconciliation: {self.reason}"

    def request(self, why: str) -> None:
        """Reconcile soon (after a reconnect, an operator action)."""
        self._requested.append(why)
        self._wake.set()

    # --- one pass -------------------------------------------------------------------------

    async def start(self) -> Report:
        """Cancel the previous run's resting orders, then reconcile; entries stay refused
        until this has passed once."""
        return await self.reconcile("start", cancel_resting=True)

    async def reconcile(self, why: str, *, cancel_resting: bool = False) -> Report:
        venue, state = self.venue, self.venue.state
        async with venue.lock:
            now = venue.clock.now_ms()
            report = Report(why, now, ok=False)
            version = state.version
            try:
                if cancel_resting:
                    report.cancelled = await self._cancel_resting()
                held = await self._held()
                closed = await self._closed(needs_market(state, held, now, self.prefixes))
                report.actions = plan(
                    state,
                    held,
                    now=now,
                    closed=closed,
                    max_count=OVERSIZE_FACTOR * self.max_contracts() * 100,
                    prefixes=self.prefixes,
                )
                for action in report.actions:
                    if action.kind == "close_oversized":
                        await self._close_oversized(action)
                report.adopted = apply(state, report.actions, now)
                report.ok = True
                await self._tell_engine(report.actions)
            except KalshiError as exc:
                report.error = str(exc)
                log.warning("live_reconcile_failed", why=why, error=str(exc))
            if state.version != version:
                await venue._save()  # only a change is written: the lock is held meanwhile
        self._last_run = now
        self._finish(report)
        await self.sync_orphans()
        if report.adopted:
            summary = ", ".join(
                f"{t} {state.orphans[t].signed / 100:+.2f}"
                f" (exposure ${exposure(state.orphans[t]) / 1_000_000:.2f})"
                for t in report.adopted
                if t in state.orphans
            )
            await self.notify("errors", f"live: orphan positions adopted: {summary}")
        return report

    async def _tell_engine(self, actions: Sequence[Action]) -> None:
        """After a pass that moved the tracked position: the engine hears what the
        exchange holds of it, then the account's cash (under the venue's lock)."""
        kinds = {a.kind for a in actions}
        if not kinds & TOLD:
            return
        venue, position = self.venue, self.venue.state.position
        if position is None:  # a ghost, or a desync resolved with nothing held
            venue._correct("", 0, "RECONCILE_GHOST")
        else:
            venue._correct(position.ticker, position.count, "RECONCILE_RECOUNT")
        await venue.sync_balance()

    def _finish(self, report: Report) -> None:
        self.reports.append(report)
        del self.reports[:-20]
        if report.ok and (report.why == "start" or self.passed):
            self.passed = True
            self.reason = ""
        elif not report.ok and not self.passed:
            self.reason = f"start reconciliation failed: {report.error}"
        log.info(
            "live_reconciled",
            why=report.why,
            ok=report.ok,
            actions=[f"{a.kind}:{a.ticker}" for a in report.actions],
            cancelled=report.cancelled,
        )

    async def check_orphans(self) -> list[OrphanClose]:
        """The orphan check (when orphans exist); each close is recorded."""
        if not self.venue.state.orphans:
            return []
        self._last_orphan_check = self.venue.clock.now_ms()
        closes = await check_orphans(self.venue)
        for close in closes:
            await self.record_close(close)
        await self.sync_orphans()
        return closes

    async def sync_orphans(self) -> None:
        """Hand the orphans to ``orphans_changed`` when they differ from the last handed
        (adopted, replaced, closed here, or by the venue: an emergency stop, close-all)."""
        seen = {
            t: (o.signed, o.cause, o.cost, o.fees, o.counted)
            for t, o in self.venue.state.orphans.items()
        }
        if seen != self._synced:
            await self.orphans_changed(self.venue.state)
            self._synced = seen

    async def _held(self) -> list[Held]:
        rows = await self.venue.rest.list_positions(count_filter="position")
        return [Held(r.ticker, r.position, r.market_exposure, r.fees_paid) for r in rows]

    async def _closed(self, tickers: Sequence[str]) -> dict[str, bool]:
        out: dict[str, bool] = {}
        for ticker in tickers:
            try:
                market = await self.venue.rest.get_market(ticker)
            except KalshiError as exc:
                log.warning("live_reconcile_market_failed", ticker=ticker, error=str(exc))
                continue
            out[ticker] = market.phase in CLOSED_PHASES
        return out

    async def _cancel_resting(self) -> list[str]:
        orders = await self.venue.rest.list_orders(status="resting")
        cancelled = []
        for order in orders:
            if order.status != "resting" or not ours(order.ticker, self.prefixes):
                continue
            await self.venue.rest.cancel_order(order.order_id, ticker=order.ticker)
            cancelled.append(order.order_id)
            log.warning("live_start_cancelled_resting", order_id=order.order_id)
        return cancelled

    async def _close_oversized(self, action: Action) -> None:
        """Sell an oversized untracked position at the 1 ¢ floor now; what is left after
        the attempt is adopted (the plan's fall-back, not the original's silent one)."""
        venue, ticker = self.venue, action.ticker
        side: Side = "yes" if action.signed > 0 else "no"
        limit = 100 if side == "yes" else PRICE_MAX - 100
        coid = venue.own_client_order_id("oversize", ticker)
        log.error("live_reconcile_oversized", ticker=ticker, exchange=action.signed)
        try:
            await venue._create(
                ticker=ticker,
                side=side,
                action="sell",
                yes_price=limit,
                count=abs(action.signed),
                client_order_id=coid,
                intent_coid=coid,
                purpose="exit",
            )
        except KalshiError as exc:
            log.error("live_reconcile_oversized_failed", ticker=ticker, error=str(exc))
        left = await venue._signed_position(ticker)
        if left is None:
            left = action.signed
        if left:
            venue.state.adopt_orphan(ticker, left, "RECONCILE", venue.clock.now_ms())
        await self.notify(
            "errors", f"live: oversized position {ticker} {action.signed / 100:+.2f} closed"
        )

    # --- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Start reconciliation until it passes, then on request, every ``every_s`` and
        the orphan check every ``orphan_every_s`` while orphans exist."""
        while not stop.is_set():
            try:
                if not self.passed:
                    await self.start()
                elif self._requested:
                    why = ", ".join(dict.fromkeys(self._requested))
                    self._requested.clear()
                    await self.reconcile(why)
                now = self.venue.clock.now_ms()
                periodic = self.passed and now - self._last_run >= self.every_s * 1000
                if periodic and not self.venue.lock.locked():
                    # An order operation in progress: the next second, not queued behind it.
                    await self.reconcile("periodic")
                if (
                    self.venue.state.orphans
                    and now - self._last_orphan_check >= self.orphan_every_s * 1000
                ):
                    await self.check_orphans()
                await self.sync_orphans()
            except Exception as exc:  # the loop must outlive one bad pass; it is reported
                log.exception("live_reconcile_loop_failed", error=str(exc))
            self._wake.clear()
            waits: list[asyncio.Future[Any]] = [
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(self._wake.wait()),
                asyncio.ensure_future(self.venue.clock.sleep(1.0)),
            ]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*waits, return_exceptions=True)

    # --- health ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        state = self.venue.state
        last = self.reports[-1] if self.reports else None
        return {
            "live_reconcile": {
                "passed": self.passed,
                "reason": self.reason,
                "last_ts": last.ts if last else None,
                "last_ok": last.ok if last else None,
                "last_error": last.error if last else "",
                "orphans": [
                    {
                        "ticker": o.ticker,
                        "side": "yes" if o.signed > 0 else "no",
                        "contracts": abs(o.signed) / 100,
                        "exposure": exposure(o) / 1_000_000,
                        "cause": o.cause,
                    }
                    for o in state.orphans.values()
                ],
            }
        }
