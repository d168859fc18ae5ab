"""Shared builders for the Kalshi client tests (a throwaway key pair, wire payloads)."""

from __future__ import annotations

import functools

from cryptography.hazmat.primitives.asymmetric import rsa

from marketdata.kalshi.signing import KalshiSigner


@functools.cache
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def signer(clock_ms: int | None = None) -> KalshiSigner:
    if clock_ms is None:
        return KalshiSigner("key-1", rsa_key())
    return KalshiSigner("key-1", rsa_key(), clock_ms=lambda: clock_ms)


def market_json(ticker: str, open_iso: str, close_iso: str, status: str = "active") -> dict:
    return {
        "ticker": ticker,
        "event_ticker": ticker.rsplit("-", 1)[0],
        "status": status,
        "open_time": open_iso,
        "close_time": close_iso,
        "floor_strike": 64839.26,
        "result": "",
        "yes_bid_dollars": "0.4100",
    }


async def until(predicate, timeout_s: float = 5.0, interval: float = 0.01) -> None:
    """Wait for ``predicate()`` to hold, or fail the test after ``timeout_s`` seconds."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(interval)


class Collector:
    """What a consumer of a feed sees: every event, plus one book per ticker."""

    def __init__(self) -> None:
        from marketdata.model.book import OrderBook

        self.events: list = []
        self.books: dict[str, OrderBook] = {}

    def __call__(self, event) -> None:
        from marketdata.model.book import OrderBook
        from marketdata.model.events import BookDelta, BookSnapshot

        self.events.append(event)
        if isinstance(event, BookSnapshot | BookDelta):
            self.books.setdefault(event.ticker, OrderBook(event.ticker)).apply(event)

    def kinds(self) -> set[str]:
        return {e.kind for e in self.events}

    def levels(self, ticker: str):
        book = self.books.get(ticker)
        return None if book is None else book.snapshot_levels()
