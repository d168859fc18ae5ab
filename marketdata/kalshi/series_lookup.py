"""Does the exchange list this series? Asked before a ``series_ticker`` override is stored.

An override to a series Kalshi does not list was accepted once and silently stopped all
trading (every decision NO_ACTIVE_CONTRACT, issue #15). The answer comes from Kalshi REST
``GET /series/{ticker}`` (a public read: no signature needed); an exchange that cannot be
asked is a refusal too, never a default yes.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

from marketdata.kalshi.errors import KalshiError, KalshiNotFound
from marketdata.kalshi.rest import KalshiRestClient
from marketdata.model.units import WireFormatError

# Kalshi's series tickers are upper-case letters and digits (KXBTC15M, KXBTCD, INXD),
# sometimes with a hyphen; anything else is refused before it goes into a URL.
SERIES_TICKER = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,63}")


def series_refusal(series_ticker: str, *, base_url: str, timeout_s: float = 5.0) -> str | None:
    """None when the exchange at ``base_url`` lists ``series_ticker``; else why not."""
    if not SERIES_TICKER.fullmatch(series_ticker):
        return f"{series_ticker!r} is not a series ticker (upper-case letters, digits, - or _)"
    # A fresh loop in a thread of its own: callers are sync views, some inside a thread that
    # already runs a loop (the embedded demo's server).
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _ask(series_ticker, base_url, timeout_s)).result()


async def _ask(series_ticker: str, base_url: str, timeout_s: float) -> str | None:
    client = KalshiRestClient(base_url, None, timeout_s=timeout_s, max_read_attempts=2)
    try:
        series = await client.get_series(series_ticker)
    except KalshiNotFound:
        return f"the exchange does not list the series {series_ticker}"
    except (KalshiError, WireFormatError) as error:
        return f"could not confirm the series {series_ticker} with the exchange: {error}"
    finally:
        await client.aclose()
    if series.ticker != series_ticker:
        return f"the exchange answered for {series.ticker}, not {series_ticker}"
    return None
