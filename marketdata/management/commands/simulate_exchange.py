"""``manage.py simulate_exchange``: the local exchange on one port (interfaces.md §9).

Kalshi on its real paths (``/trade-api/v2``, ``/trade-api/ws/v2``), Coinbase at
``/coinbase``, Binance klines at ``/binance/api/v3/klines``, controls at ``/sim/faults`` and
``/sim/clock``. Replays ``KBTC_HISTORY`` if set (then ``--start`` is required, inside the
file), else a seeded synthetic path from ``--start`` (default: now). ``--settled FILE`` (or
``KBTC_SETTLED``) gives the windows that file covers their real strike and result.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from marketdata.settled import SettledFileError, SettledMarkets
from marketdata.settled_backfill import settled_source
from marketdata.sim.auth import KeyRegistry, parse_api_key_option
from marketdata.sim.faults import FaultConfig
from marketdata.sim.maker import SPREAD_PROFILES
from marketdata.sim.server import SimExchange


def parse_start(text: str | None) -> int:
    if not text or text == "now":
        now = datetime.now(tz=UTC)
        return int(now.timestamp()) * 1000
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--start: not an ISO time or epoch ms: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class Command(BaseCommand):
    help = "Run the local Kalshi/Coinbase/Binance simulator on 127.0.0.1."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument(
            "--speed", type=float, default=1.0, help="simulated seconds per wall second"
        )
        parser.add_argument("--start", default=None, help="ISO time or epoch ms (default: now)")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--days", type=int, default=7, help="how much path to prepare after start"
        )
        parser.add_argument("--faults", default="", help="e.g. seq_skip=0.01,rest_429=0.05")
        parser.add_argument(
            "--settled",
            default=None,
            metavar="FILE",
            help=(
                "settled KXBTC15M markets: a CSV file, or 'table' for what backfill_settled "
                "stored (default: KBTC_SETTLED); covered windows get real strikes and results"
            ),
        )
        parser.add_argument(
            "--spread",
            choices=sorted(SPREAD_PROFILES),
            default=None,
            help="the maker's spread profile (default: KBTC_SIM_SPREAD, real)",
        )
        parser.add_argument(
            "--historical-days",
            type=float,
            default=None,
            help="markets settled longer ago than this are only under /historical/markets",
        )
        parser.add_argument(
            "--account-balance",
            default="1000.00",
            help="opening cash of each new account (one per API key), in dollars",
        )
        parser.add_argument(
            "--api-key",
            action="append",
            default=[],
            metavar="KEY_ID=PEM",
            help="register a public key (PEM file path or text); repeatable",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        history = os.environ.get("KBTC_HISTORY") or None
        if history and not options["start"]:
            raise CommandError("KBTC_HISTORY is set: give --start inside the file's span")
        try:
            faults = FaultConfig.parse(options["faults"])
            keys = KeyRegistry()
            for option in options["api_key"]:
                keys.register(*parse_api_key_option(option))
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        try:
            balance = Decimal(options["account_balance"]) * 100
        except InvalidOperation:
            raise CommandError("--account-balance: not a dollar amount") from None
        if balance < 0 or balance != balance.to_integral_value():
            raise CommandError("--account-balance: whole cents, not negative")
        settled = self._settled(options["settled"] or settings.KBTC["SETTLED"])
        historical_days = options["historical_days"]
        if historical_days is not None and not historical_days > 0:
            raise CommandError("--historical-days must be positive")
        if options["host"] not in ("127.0.0.1", "localhost", "::1"):
            raise CommandError("the simulator listens on loopback only")
        exchange = SimExchange(
            seed=options["seed"],
            start_ms=parse_start(options["start"]),
            speed=options["speed"],
            history=history,
            days=options["days"],
            faults=faults,
            keys=keys,
            host=options["host"],
            port=options["port"],
            opening_balance_cents=int(balance),
            settled=settled,
            spread=options["spread"] or settings.KBTC["SIM_SPREAD"],
            historical_days=historical_days,
        )
        asyncio.run(self._serve(exchange, len(keys.keys)))

    def _settled(self, path: Any) -> SettledMarkets | None:
        try:
            settled = settled_source(path)
        except SettledFileError as exc:
            raise CommandError(f"--settled: {exc}") from None
        if settled is None:
            return None
        markets = list(settled)
        first, last = markets[0], markets[-1]
        self.stdout.write(
            f"settlements: {len(settled)} real markets from {path} "
            f"(closes {first.ticker} .. {last.ticker}); other windows: 60 s average rule\n"
        )
        return settled

    async def _serve(self, exchange: SimExchange, key_count: int) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await exchange.start()
        base, ws = exchange.base_url, f"ws://{exchange.host}:{exchange.port}"
        self.stdout.write(
            f"simulator on {base} (speed {exchange.clock.speed}x, {key_count} API key(s))\n"
            f"  KALSHI_API_URL={base}/trade-api/v2\n"
            f"  KALSHI_WS_URL={ws}/trade-api/ws/v2\n"
            f"  COINBASE_WS_URL={ws}/coinbase\n"
            f"  BINANCE_API_URL={base}/binance\n"
            f"  controls: {base}/sim/faults  {base}/sim/clock"
        )
        await stop.wait()
        await exchange.stop()
