"""Small helpers for the simulator's socket tests."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from marketdata.model.book import OrderBook
from marketdata.model.units import parse_dollars, parse_fp


async def frames_until(
    ws: aiohttp.ClientWebSocketResponse, predicate, read_timeout: float = 3.0, limit: int = 10_000
) -> list[dict[str, Any]]:
    """Read JSON frames until one satisfies ``predicate`` (included); fail on timeout."""
    seen: list[dict[str, Any]] = []
    for _ in range(limit):
        message = await ws.receive(timeout=read_timeout)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        frame = json.loads(message.data)
        seen.append(frame)
        if predicate(frame):
            return seen
    raise AssertionError("predicate never satisfied")


async def drain(ws: aiohttp.ClientWebSocketResponse, quiet: float = 0.3) -> list[dict[str, Any]]:
    """Read every frame until the socket is quiet for ``quiet`` seconds."""
    seen: list[dict[str, Any]] = []
    while True:
        try:
            message = await ws.receive(timeout=quiet)
        except TimeoutError:
            return seen
        if message.type != aiohttp.WSMsgType.TEXT:
            return seen
        seen.append(json.loads(message.data))


def apply_frame(book: OrderBook, frame: dict[str, Any]) -> None:
    msg = frame["msg"]
    if frame["type"] == "orderbook_snapshot":
        yes = [(parse_dollars(p), parse_fp(c)) for p, c in msg.get("yes_dollars_fp") or []]
        no = [(parse_dollars(p), parse_fp(c)) for p, c in msg.get("no_dollars_fp") or []]
        book.apply_snapshot(yes, no)
    elif frame["type"] == "orderbook_delta":
        book.apply_delta(
            msg["side"], parse_dollars(msg["price_dollars"]), parse_fp(msg["delta_fp"])
        )


def rest_book(ticker: str, body: dict[str, Any]) -> OrderBook:
    book = OrderBook(ticker)
    fp = body["orderbook_fp"]
    book.apply_snapshot(
        [(parse_dollars(p), parse_fp(c)) for p, c in fp["yes_dollars"]],
        [(parse_dollars(p), parse_fp(c)) for p, c in fp["no_dollars"]],
    )
    return book
