"""Real KXBTC15M settlements: the price to beat and the result Kalshi actually used.

A settled-markets file (Kalshi's ``GET /markets?series_ticker=KXBTC15M&status=settled``
written as CSV, as in ``../shared/data`` or exported by ``manage.py backfill_settled``) names,
per window, the real ``floor_strike`` (the BRTI 60-second average before open) and the
``result``. Where it covers a window the simulator uses them; elsewhere, or where a field is
missing, the 60-second-average rule on the replayed path applies. Each market says which
(``SOURCE_*``), because a backtest over a Binance path settled by Binance averages agrees
with Kalshi only about 96 % of the time.

Pure: parsing and lookups only; loading the database table is ``marketdata.selectors``.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import lzma
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from marketdata.model.events import Side

WINDOW_MS = 900_000
REQUIRED_COLUMNS = (
    "ticker",
    "open_time",
    "close_time",
    "floor_strike",
    "expiration_value",
    "result",
)
# Where each market's strike and result came from (REST ``kbtc_settlement_source``, the log).
SOURCE_FILE = "settled_file"  # strike and result both real
SOURCE_FILE_STRIKE = "settled_file_strike"  # real strike; result by the 60 s rule against it
SOURCE_FILE_RESULT = "settled_file_result"  # real result; strike by the 60 s rule
SOURCE_AVERAGE = "average_60s"  # not covered: both from the replayed path


class SettledFileError(ValueError):
    """A settled-markets file that cannot be used; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class SettledMarket:
    """One real settled window. Prices in cents (exact), volume in hundredths of contracts."""

    ticker: str
    open_ts: int
    close_ts: int
    strike_cents: int | None
    expiration_cents: int | None
    result: Side | None
    volume: int | None = None
    settled_ts: int | None = None  # when Kalshi settled it (the listing's time filter)


class SettledMarkets:
    """Real settlements by close time (ms); ``get`` is None outside the file."""

    def __init__(self, markets: Iterable[SettledMarket], *, source: str = "") -> None:
        self.source = source
        self.by_close: dict[int, SettledMarket] = {}
        for market in markets:
            if market.close_ts in self.by_close:
                raise SettledFileError(f"{source}: two markets close at {market.close_ts}")
            self.by_close[market.close_ts] = market

    def __len__(self) -> int:
        return len(self.by_close)

    def __iter__(self) -> Iterator[SettledMarket]:
        return iter(sorted(self.by_close.values(), key=lambda m: m.close_ts))

    def get(self, close_ts: int) -> SettledMarket | None:
        return self.by_close.get(close_ts)


def _open_text(path: Path) -> IO[str]:
    opener = {".xz": lzma.open, ".lzma": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}
    return opener.get(path.suffix, open)(path, "rt", newline="")  # type: ignore[operator]


def parse_time_ms(text: str) -> int:
    """ISO-8601 with offset or ``Z`` (naive counts as UTC) → epoch ms."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def cents(text: str) -> int | None:
    """A dollar amount (``"90619.8"``) as exact cents; empty → None.

    Kalshi sends ``floor_strike`` as a JSON float, so a strike of $67,100.01 can arrive as
    ``67100.009999``: within a hundredth of a cent it is that cent; anything further from a
    whole cent is not a BRTI average rounded to cents (interfaces.md §6) and is refused.
    """
    text = text.strip()
    if not text:
        return None
    value = Decimal(text) * 100
    whole = value.to_integral_value()
    if abs(value - whole) > Decimal("0.01") or whole <= 0:
        raise ValueError(f"not a positive whole-cent price: {text!r}")
    return int(whole)


def hundredths(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    value = Decimal(text) * 100
    if value != value.to_integral_value() or value < 0:
        raise ValueError(f"not a count in hundredths: {text!r}")
    return int(value)


def parse_row(row: dict[str, str]) -> SettledMarket:
    """One CSV row (or Kalshi market object's fields as strings); raises ValueError."""
    result = (row.get("result") or "").strip().lower()
    if result not in ("yes", "no", ""):
        raise ValueError(f"result must be yes, no or empty, not {row.get('result')!r}")
    open_ts, close_ts = parse_time_ms(row["open_time"]), parse_time_ms(row["close_time"])
    if close_ts % WINDOW_MS or close_ts - open_ts != WINDOW_MS:
        raise ValueError("not a 15-minute window on the quarter hour")
    ticker = row["ticker"].strip()
    if not ticker:
        raise ValueError("empty ticker")
    return SettledMarket(
        ticker=ticker,
        open_ts=open_ts,
        close_ts=close_ts,
        strike_cents=cents(row["floor_strike"]),
        expiration_cents=cents(row["expiration_value"]),
        result="yes" if result == "yes" else "no" if result == "no" else None,
        volume=hundredths(row.get("volume") or ""),
    )


def settled_from_market_json(market: dict[str, Any]) -> SettledMarket:
    """A Kalshi market object (``GET /markets``) as a settled market; raises ValueError.

    ``floor_strike`` is a JSON number there (the CSV's column came from it), the rest are
    strings (``expiration_value``, ``volume_fp``, ``result`` empty until determined).
    """
    strike = market.get("floor_strike")
    if strike is not None and not isinstance(strike, int | float | str):
        raise ValueError(f"floor_strike is not a number: {strike!r}")
    if isinstance(strike, bool):
        raise ValueError(f"floor_strike is not a number: {strike!r}")
    texts = {
        "ticker": market.get("ticker"),
        "open_time": market.get("open_time"),
        "close_time": market.get("close_time"),
        "expiration_value": market.get("expiration_value"),
        "result": market.get("result"),
        "volume": market.get("volume_fp"),
    }
    for name, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} is not a string: {value!r}")
    if not texts["ticker"] or not texts["open_time"] or not texts["close_time"]:
        raise ValueError("market without ticker, open_time or close_time")
    row = {name: value or "" for name, value in texts.items()}
    row["floor_strike"] = "" if strike is None else str(strike)  # str(float) is its repr
    settled = market.get("settlement_ts")
    if settled is not None and not isinstance(settled, str):
        raise ValueError(f"settlement_ts is not a string: {settled!r}")
    # Only here, not from CSV files: the shared file's column is cut at 25 characters
    # ("…13.4879+"), and the simulator does not need it.
    return replace(parse_row(row), settled_ts=parse_time_ms(settled) if settled else None)


def load_settled(path: str | Path) -> SettledMarkets:
    """Read a settled-markets CSV (plain or compressed). A bad row stops the load, naming it:
    a simulator that silently skipped rows would settle those markets by a different rule."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise SettledFileError(f"{path}: no such settled-markets file")
    markets: list[SettledMarket] = []
    try:
        with _open_text(path) as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise SettledFileError(f"{path}: missing column(s) {', '.join(missing)}")
            for row in reader:
                try:
                    markets.append(parse_row(row))
                except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
                    raise SettledFileError(f"{path} line {reader.line_num}: {exc}") from None
    except (OSError, EOFError, lzma.LZMAError, UnicodeDecodeError, csv.Error) as exc:
        raise SettledFileError(f"{path}: unreadable ({exc})") from None
    if not markets:
        raise SettledFileError(f"{path}: no settled markets")
    return SettledMarkets(markets, source=str(path))
