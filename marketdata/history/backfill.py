"""Back-fill 1-minute klines from Binance's REST endpoint (``GET /api/v3/klines``).

Pages of up to 1000 bars, each stored in its own transaction (a long back-fill keeps what it
fetched if it is interrupted; running it again fills only what is missing). Only closed bars
are stored: Binance (and the simulator) also return the bar in progress.

Which bar is in progress is decided by the exchange's clock (``GET /api/v3/time``, read before
the page, so every bar that closed by then was closed when the page was served), never by
counting: Binance's record has gaps (missing minutes), so a page may hold fewer bars than the
minutes it spans while every one of them is closed. The clock is read once when the range is
already past, and before each page while "now" may still fall inside the range.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from marketdata.history.klines import KlineFormatError, klines_from_rest
from marketdata.history.store import klines_store

log = structlog.get_logger(__name__)

MINUTE_MS = 60_000
PAGE_LIMIT = 1000
RETRIES = 4


class BackfillError(RuntimeError):
    """The exchange refused or kept failing; the message says what it answered."""


@dataclass(frozen=True, slots=True)
class BackfillResult:
    fetched: int
    inserted: int
    quarter_bars_written: int
    pages: int


def backfill(
    *,
    base_url: str,
    start_ms: int,
    end_ms: int,
    symbol: str = "BTCUSDT",
    source: str = "binance",
    client: httpx.Client | None = None,
    on_page: Callable[[int], None] | None = None,
) -> BackfillResult:
    """Fetch and store the closed 1-minute bars with ``start_ms <= open time < end_ms``."""
    start_ms -= start_ms % MINUTE_MS
    own_client = client is None
    http = client or httpx.Client(timeout=15.0)
    fetched = inserted = quarters = pages = 0
    server_now: int | None = None
    cursor = start_ms
    try:
        while cursor < end_ms:
            if server_now is None or server_now < end_ms:
                server_now = _server_time(http, base_url)
            raw = _get_page(http, base_url, symbol, cursor, end_ms)
            pages += 1
            closed_until = min(end_ms, server_now)
            rows = [row for row in raw if row[0] + MINUTE_MS <= closed_until]
            if rows:
                result = klines_store(list(klines_from_rest(rows)), source=source)
                fetched += len(rows)
                inserted += result.inserted
                quarters += result.quarter_bars_written
                cursor = rows[-1][0] + MINUTE_MS
            if on_page is not None:
                on_page(len(rows))
            # A short page is the end of what the exchange has in the range (gaps do not count
            # against the limit); no closed bar means the rest is open or in the future.
            if len(raw) < PAGE_LIMIT or not rows:
                break
    finally:
        if own_client:
            http.close()
    return BackfillResult(fetched, inserted, quarters, pages)


def _server_time(http: httpx.Client, base_url: str) -> int:
    answer = _get_json(http, base_url.rstrip("/") + "/api/v3/time", {})
    server_time = answer.get("serverTime") if isinstance(answer, dict) else None
    if not isinstance(server_time, int) or isinstance(server_time, bool):
        raise KlineFormatError(f"server time answer has no serverTime: {answer!r:.200}")
    return server_time


def _get_page(
    http: httpx.Client, base_url: str, symbol: str, start_ms: int, end_ms: int
) -> list[list[Any]]:
    params: dict[str, str | int] = {
        "symbol": symbol,
        "interval": "1m",
        "startTime": start_ms,
        "endTime": end_ms - 1,
        "limit": PAGE_LIMIT,
    }
    rows = _get_json(http, base_url.rstrip("/") + "/api/v3/klines", params)
    if not isinstance(rows, list):
        raise KlineFormatError(f"klines answer is not a list: {rows!r:.200}")
    return rows


def _get_json(http: httpx.Client, url: str, params: dict[str, str | int]) -> Any:
    for attempt in range(RETRIES):
        try:
            response = http.get(url, params=params)
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code == 200:
                return response.json()
            problem = f"HTTP {response.status_code}: {response.text[:200]}"
            if response.status_code < 500 and response.status_code != 429:
                raise BackfillError(f"{url} refused: {problem}")
        wait = 2**attempt
        log.warning("backfill_retry", url=url, problem=problem, wait_s=wait, attempt=attempt + 1)
        time.sleep(wait)
    raise BackfillError(f"{url} kept failing: {problem}")
