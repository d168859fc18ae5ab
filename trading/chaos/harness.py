"""The live lane against the simulator, with ``run_trader --live`` as a real process that can
be killed (issue #23). Used by ``manage.py canary`` (no kills) and ``manage.py chaos``.

This process hosts the simulator (a stepped clock) and starts the trader on its feeds and
account, on the configured database (through ``DatabaseRelay``, so its database alone can be
taken away) and Redis. The clock moves as fast as the trader keeps up, never faster than
``speed`` simulated seconds per wall second: each step waits until the trader's published
clock (``trading.push.latest_event_ms``, its dashboard payloads in the Redis cache) has
reached it. Steps are ``step_s`` long, one second while the durable position state
(``LivePositionState``) shows an order in flight (ENTERING, EXITING, PARTIAL_EXIT, or an
unresolved order): the venue's waits run on the stream's clock; and while the account
holds a position whose market closes within a step, until it settled.

Kill points (SIGKILL, then a restart with the clock held), taken state after state in
``CAMPAIGN`` order:

- ``ENTERING``: the simulator receives an entry order (not reduce-only) from the account;
  kills alternate between before the exchange saw it (the request dropped unprocessed)
  and after the exchange placed it (its answer lost).
- ``EXITING``: the same for an exit order (reduce-only).
- ``OPEN``: the durable state reads OPEN after a step (once per position).
- ``settling``: the account holds a position in a market that has closed and not settled
  (close to settlement, ~6 simulated s); the clock then runs past the settlement while the
  trader is down. When the campaign reaches it, the lane holds its positions to their
  close (``HOLD_TO_CLOSE``, lane overrides), so every position offers one.
- ``reconciling``: the restarted trader's first positions read (its start reconciliation),
  armed after each kill of another state; the request is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from asgiref.sync import sync_to_async
from django.db import connection

from kbtc_core.db import db_call
from marketdata.history.backfill import backfill
from marketdata.kalshi.account_wire import OrderInfo, parse_order
from marketdata.sim.account_wire import order_json
from marketdata.sim.faults import FaultConfig
from marketdata.sim.orders import LEGACY, V2
from marketdata.sim.rest import PREFIX
from marketdata.sim.testing import SimHandle, running_simulator
from marketdata.sim.wire import iso
from trading import push
from trading.chaos.account import AccountCheck, check_account
from trading.chaos.dbproxy import DatabaseRelay
from trading.chaos.gates import Gate, promotion_gates
from trading.chaos.process import Trader, database_url
from trading.models import BotState, LiveOrphan, LivePositionState, Trade
from trading.services import controls

# The order kills are taken in: OPEN first (reconciling is armed by each other kill),
# settling last: its campaign changes how the lane exits (``HOLD_TO_CLOSE``).
CAMPAIGN = ("OPEN", "reconciling", "EXITING", "ENTERING", "settling")
IN_FLIGHT = ("ENTERING", "EXITING", "PARTIAL_EXIT")
SEED = 7
START_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC (synthetic path, seed 7)
OPERATOR = controls.Actor(label="chaos-harness", source="task")
POSITIONS_PATH = f"{PREFIX}/portfolio/positions"
DRAIN_S = 40 * 60  # simulated time the last position and orphans get to end
# The settling campaign: the lane holds its positions to their close (no strategy exit
# before an hour's hold, no expiry or short settlement guard), so each position offers a
# settling kill. Without it a position rides into its close only when its exit finds no
# bid (about once per 12 simulated hours on the simulator's books).
HOLD_TO_CLOSE = {
    "min_hold_s": 3600,
    "expiry_guard_trigger_s": 0,
    "short_settlement_guard_s": 0,
    "short_settlement_guard_min_s": 0,
}


class HarnessError(RuntimeError):
    """The run could not go on (the trader stopped following the clock, or never started)."""


@dataclass
class RunOptions:
    data_dir: Path
    hours: float
    speed: float = 600.0
    step_s: int = 30
    seed: int = SEED
    start_ms: int = START_MS
    faults: str = ""
    kills: int = 0  # per state
    outage_s: float = 0.0  # wall seconds of the trader's database away
    slippage: int = 200  # live_entry_slippage, price units
    # The loss breakers off (limits at 100 %): a chaos run needs the lane to keep trading
    # after a day's losses; the canary keeps the operator's limits.
    breakers_off: bool = False


@dataclass
class RunReport:
    options: RunOptions
    simulated_s: int = 0
    wall_s: float = 0.0
    kills: Counter[str] = field(default_factory=Counter)
    held_to_close_from: str = ""  # when the settling campaign's overrides were set
    kill_log: list[str] = field(default_factory=list)
    restarts: int = 0
    outage: str = "none"
    orphans: int = 0
    unexplained_orphans: list[str] = field(default_factory=list)
    empty_exits: list[str] = field(default_factory=list)  # exit orders with nothing held
    account: AccountCheck | None = None
    gates: list[Gate] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "simulated_hours": round(self.simulated_s / 3600, 2),
            "wall_s": round(self.wall_s),
            "speed_bound": self.options.speed,
            "faults": self.options.faults or "none",
            "kills": dict(self.kills),
            "kills_wanted_per_state": self.options.kills,
            "held_to_close_from": self.held_to_close_from or "never",
            "restarts": self.restarts,
            "db_outage": self.outage,
            "orphans": self.orphans,
            "unexplained_orphans": self.unexplained_orphans,
            "exits_with_nothing_held": self.empty_exits,
            "account": self.account.summary() if self.account else None,
            "gates": [g.line() for g in self.gates],
            "failures": self.failures,
        }


def used_database() -> str:
    """Why this database cannot host a run ("" when it can): a run starts the trader from
    nothing, and a saved lane state (a previous run's, or a real one) would be restored."""
    if BotState.objects.exists() or LivePositionState.objects.exists():
        return (
            f"the database {connection.settings_dict['NAME']!r} already has a trader's saved state"
        )
    if Trade.objects.filter(lane="live").exists():
        return f"the database {connection.settings_dict['NAME']!r} already has live trades"
    return ""


async def run_live(options: RunOptions, say: Callable[[str], None] = print) -> RunReport:
    faults = FaultConfig.parse(options.faults)
    refusal = await db_call(used_database)()
    if refusal:
        raise HarnessError(f"{refusal}: run on a fresh, migrated database")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    async with running_simulator(
        seed=options.seed, start_ms=options.start_ms, days=int(options.hours // 24) + 2
    ) as sim:
        harness = LiveHarness(options, sim, say)
        sim.exchange.watch = harness.watch
        try:
            await harness.run(faults)
        finally:
            sim.exchange.watch = None
            await harness.close()
        return harness.report


class LiveHarness:
    def __init__(self, options: RunOptions, sim: SimHandle, say: Callable[[str], None]) -> None:
        self.options, self.sim, self.say = options, sim, say
        self.report = RunReport(options)
        self.trader: Trader | None = None
        self.relay = DatabaseRelay(
            connection.settings_dict["HOST"] or "127.0.0.1",
            int(connection.settings_dict["PORT"] or 5432),
        )
        self.reconcile_armed = False
        self.killed_positions: set[str] = set()
        self.kill_tickers: set[str] = set()
        self.outage_until: float | None = None

    # --- the trader process ------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        key = self.options.data_dir / "kalshi-key.pem"
        key.write_bytes(self.sim.private_key_pem)
        key.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KBTC_", "KALSHI_"))}
        env.update(
            DATABASE_URL=database_url("127.0.0.1", self.relay.listen_port),
            KBTC_DATA_DIR=str(self.options.data_dir),
            KBTC_DB_WAIT_S=str(max(120, int(self.options.outage_s) * 2)),
            KALSHI_API_URL=self.sim.kalshi_api_url,
            KALSHI_WS_URL=self.sim.kalshi_ws_url,
            COINBASE_WS_URL=self.sim.coinbase_ws_url,
            KALSHI_API_KEY_ID=self.sim.key_id,
            KALSHI_PRIVATE_KEY_PATH=str(key),
        )
        return env

    async def _start_trader(self) -> None:
        await sync_to_async(push.forget_latest_payloads)()
        self.trader = Trader(self._env(), self.options.data_dir / "run_trader.log")
        await self._follows(self.sim.now(), limit_s=180)

    async def _kill(self, state: str, detail: str, tickers: set[str]) -> None:
        assert self.trader is not None
        await self.trader.kill()
        self.report.kills[state] += 1
        self.kill_tickers |= tickers
        line = f"{state} #{self.report.kills[state]} at {iso(self.sim.now())}: {detail}"
        self.report.kill_log.append(line)
        self.say(f"kill -9 {line}")
        if state != "reconciling" and self.report.kills["reconciling"] < self.options.kills:
            self.reconcile_armed = True

    def _want(self, state: str) -> bool:
        """A kill at ``state`` is due: the states are taken one after another, in
        ``CAMPAIGN`` order (the kill a run may not offer comes last)."""
        if self.outage_until is not None:
            return False
        for wanted in CAMPAIGN:
            if self.report.kills[wanted] < self.options.kills:
                return wanted == state
        return False

    def _kills_done(self) -> bool:
        return self.options.kills > 0 and all(
            self.report.kills[s] >= self.options.kills for s in CAMPAIGN
        )

    async def _follows(self, target: int, limit_s: float = 120) -> bool:
        """True once the trader's clock reached ``target`` (its last second); False when
        it is not running (killed)."""
        deadline = time.monotonic() + limit_s
        while True:
            if self.trader is None or not self.trader.alive:
                return False
            ts = await sync_to_async(push.latest_event_ms)()
            if ts is not None and ts >= target - 1000:
                return True
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"the trader did not reach {iso(target)} in {limit_s:g} s (at "
                    f"{iso(ts) if ts else 'nothing published'}); its log:\n{self.trader.tail()}"
                )
            await asyncio.sleep(0.05)

    # --- the simulator's side ------------------------------------------------------------

    async def watch(self, request: web.Request, user: str) -> bool:
        """Kill at an order or at the start reconciliation (``server_watch``)."""
        if user != self.sim.key_id or self.trader is None or not self.trader.alive:
            return False
        if request.method == "POST" and request.path in (V2, LEGACY):
            try:
                body = await request.json()
            except ValueError:
                return False
            state = "EXITING" if body.get("reduce_only") else "ENTERING"
            ticker = str(body.get("ticker", ""))
            if state == "EXITING" and not self._held().get(ticker):
                # A second exit for a position already sold (reduce-only: it cannot trade).
                self.report.empty_exits.append(f"{body.get('client_order_id', '')} on {ticker}")
            if not self._want(state):
                return False
            before = self.report.kills[state] % 2 == 0
            when = "before the exchange saw it" if before else "after the exchange placed it"
            coid = body.get("client_order_id", "")
            await self._kill(state, f"order {coid} {when}", {ticker})
            return before
        if request.method == "GET" and request.path == POSITIONS_PATH and self.reconcile_armed:
            self.reconcile_armed = False
            held = set(self._held())
            await self._kill("reconciling", f"start reconciliation's positions read {held}", held)
            return True
        return False

    def _account(self) -> Any:
        return self.sim.exchange.clearing.account(self.sim.key_id)

    def _held(self) -> dict[str, int]:
        return {t: p.position for t, p in self._account().positions.items() if p.position}

    def _settling(self) -> str | None:
        now = self.sim.now()
        for ticker in self._held():
            market = self.sim.exchange.core.schedule.by_ticker(ticker, now)
            if market is not None and market.phase(now) in ("closed", "determined"):
                return ticker
        return None

    def _closing(self) -> bool:
        """The account holds a position whose market closes within a step or has closed
        and not settled (the ~6 simulated s a ``settling`` kill needs)."""
        now = self.sim.now()
        for ticker in self._held():
            market = self.sim.exchange.core.schedule.by_ticker(ticker, now)
            step_ms = self.options.step_s * 1000
            if market is not None and market.close_ts - step_ms <= now <= market.settle_ts:
                return True
        return False

    def _orders(self) -> list[OrderInfo]:
        """The account's orders as the exchange lists them (REST ``Order``)."""
        return [
            parse_order(order_json(o))
            for o in self.sim.exchange.engine.orders.values()
            if o.user_id == self.sim.key_id
        ]

    # --- the run -------------------------------------------------------------------------

    async def _row(self) -> tuple[str, dict[str, Any]]:
        found = await db_call(
            lambda: (
                LivePositionState.objects.filter(lane="live").values_list("state", "data").first()
            )
        )()
        return found if found is not None else ("", {})

    async def _step(self, row: tuple[str, dict[str, Any]], began: float) -> None:
        elapsed_sim = (self.sim.now() - self.options.start_ms) / 1000
        ahead = elapsed_sim / self.options.speed - (time.monotonic() - began)
        if ahead > 0:
            await asyncio.sleep(ahead)
        state, data = row
        in_flight = state in IN_FLIGHT or bool(data.get("unresolved")) or self._closing()
        target = await self.sim.advance(1 if in_flight else self.options.step_s)
        await self._follows(target)

    async def _polled_kills(self, row: tuple[str, dict[str, Any]]) -> bool:
        state, data = row
        position = data.get("position") or {}
        key = f"{position.get('ticker')}@{position.get('opened_ts')}"
        held = int(position.get("count") or 0) > 0
        if state == "OPEN" and held and self._want("OPEN") and key not in self.killed_positions:
            self.killed_positions.add(key)
            await self._kill("OPEN", f"holding {key}", {str(position.get("ticker"))})
            return True
        ticker = self._settling() if self._want("settling") else None
        if ticker is not None:
            await self._kill("settling", f"{ticker} closed, not settled", {ticker})
            market = self.sim.exchange.core.schedule.by_ticker(ticker, self.sim.now())
            assert market is not None
            while self.sim.now() <= market.settle_ts:  # the settlement while it is down
                await self.sim.advance(1)
            return True
        return False

    async def _hold_to_close(self) -> None:
        """Once the campaign is at settling: the lane's positions ride to their close
        (``HOLD_TO_CLOSE``, lane overrides the trader reads at once)."""
        if self.report.held_to_close_from or not self._want("settling"):
            return
        await db_call(controls.lane_overrides_apply)(
            lane="live", values=HOLD_TO_CLOSE, actor=OPERATOR, note="chaos: settling kills"
        )
        self.report.held_to_close_from = iso(self.sim.now())
        self.say(f"settling campaign from {iso(self.sim.now())}: positions held to their close")

    def _outage(self, row_state: str) -> None:
        relay, opts = self.relay, self.options
        if opts.outage_s and self.outage_until is None and self.report.outage == "none":
            if row_state == "OPEN" or self._kills_done():
                self.outage_until = time.monotonic() + opts.outage_s
                relay.set_down(True)
                self.report.outage = f"{opts.outage_s:g} s from {iso(self.sim.now())}"
                self.say(f"database away for {opts.outage_s:g} wall s ({self.report.outage})")
        elif self.outage_until is not None and time.monotonic() >= self.outage_until:
            relay.set_down(False)
            self.outage_until = None
            self.report.outage += f" to {iso(self.sim.now())}"
            self.say("database back")

    async def run(self, faults: FaultConfig) -> None:
        opts, sim = self.options, self.sim
        await self.relay.start()
        await db_call(backfill)(
            base_url=sim.binance_api_url,
            start_ms=opts.start_ms - 16 * 3600 * 1000,
            end_ms=opts.start_ms,
        )
        await db_call(controls.override_set)(
            name="live_entry_slippage", value=opts.slippage, actor=OPERATOR
        )
        if opts.breakers_off:
            for name in ("daily_loss_limit", "weekly_loss_limit", "max_drawdown"):
                await db_call(controls.override_set)(name=name, value=1.0, actor=OPERATOR)
        opening = self._account().cash
        await self._start_trader()
        await db_call(controls.trading_mode_set)(mode="live", confirm=True, actor=OPERATOR)
        sim.exchange.faults.update(faults.as_dict())
        began = time.monotonic()
        end = opts.start_ms + int(opts.hours * 3600_000)
        while sim.now() < end:
            if self._kills_done() and (not opts.outage_s or self.report.outage.count(" to ")):
                break
            assert self.trader is not None
            if not self.trader.alive:
                self.report.restarts += 1
                await self._start_trader()
                continue
            row = await self._row()
            self._outage(row[0])
            await self._hold_to_close()
            if await self._polled_kills(row):
                continue
            await self._step(row, began)
        if self.outage_until is not None:
            self.relay.set_down(False)
            self.outage_until = None
        await self._drain(began)
        self.report.wall_s = time.monotonic() - began
        self.report.simulated_s = (sim.now() - opts.start_ms) // 1000
        await self._check(opening)

    async def _drain(self, began: float) -> None:
        """Pause, then let the last position and the orphans end (exit or settle)."""
        sim = self.sim
        sim.exchange.watch = None  # no more kills
        sim.exchange.faults.update({name: 0.0 for name in FaultConfig.RATES})
        await db_call(controls.trading_pause_set)(paused=True, actor=OPERATOR)
        until = sim.now() + DRAIN_S * 1000
        while sim.now() < until:
            assert self.trader is not None
            if not self.trader.alive:
                self.report.restarts += 1
                await self._start_trader()
            row = await self._row()
            state, data = row
            if state == "FLAT" and not data.get("orphans") and not self._held():
                break
            await self._step(row, began)
        await asyncio.sleep(2)  # the writer's last rows
        assert self.trader is not None
        await self.trader.stop()

    async def _check(self, opening: int) -> None:
        report = self.report
        since = datetime.fromtimestamp(self.options.start_ms / 1000, tz=UTC)
        orders = self._orders()  # the trader has stopped: the account's orders are final
        coids = [o.client_order_id for o in orders if o.client_order_id]

        def read() -> tuple[list[Trade], dict[str, Any], Any, list[LiveOrphan]]:
            trades = list(Trade.objects.filter(lane="live", closed_at__gte=since))
            row = LivePositionState.objects.filter(lane="live").first()
            bot = BotState.objects.filter(lane="live").first()
            orphans = list(LiveOrphan.objects.filter(lane="live", detected_at__gte=since))
            return trades, (row.data if row else {}), (bot.bankroll if bot else None), orphans

        trades, state, bankroll, orphans = await db_call(read)()
        report.account = check_account(
            self._account(),
            opening=opening,
            client_order_ids=coids,
            trades=trades,
            state=state,
            bankroll=bankroll,
        )
        report.orphans = len(orphans)
        report.unexplained_orphans = [
            f"{o.ticker} ({o.cause}, {o.close_reason or 'open'})"
            for o in orphans
            if o.ticker not in self.kill_tickers
        ]
        report.gates = await db_call(promotion_gates)(since=since, orders=orders)
        report.failures = list(report.account.failures)
        if report.unexplained_orphans:
            report.failures.append(f"orphans without a kill: {report.unexplained_orphans}")
        if report.empty_exits:
            report.failures.append(f"exit orders with nothing held: {report.empty_exits}")
        for state_name in CAMPAIGN if self.options.kills else ():
            if report.kills[state_name] < self.options.kills:
                report.failures.append(
                    f"only {report.kills[state_name]} of {self.options.kills} kills at"
                    f" {state_name} in {self.options.hours:g} simulated hours"
                )

    async def close(self) -> None:
        if self.trader is not None and self.trader.alive:
            await self.trader.kill()
        await self.relay.stop()
