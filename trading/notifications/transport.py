"""One webhook post with Discord's retry rules (domain.md §8).

Up to 8 attempts: a 429 waits what ``Retry-After`` says (at most 60 s); a 5xx or a network
error (refused, reset, timed out) backs off 0.5 s, doubling up to 30 s; any other answer
that is not a success (4xx, a redirect) gives up at once: the same body would be refused
again. ``sleep`` is a parameter so the caller decides how a wait is spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

MAX_ATTEMPTS = 8
RETRY_AFTER_MAX_S = 60.0
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
TIMEOUT_S = 10.0  # a webhook that hangs is a network error after this long


@dataclass(frozen=True, slots=True)
class Delivery:
    ok: bool
    attempts: int
    error: str  # "" when delivered: the last failure's text otherwise
    waits: tuple[float, ...]  # seconds slept between attempts, in order


def deliver(
    url: str,
    payload: dict[str, Any],
    *,
    client: httpx.Client,
    sleep: Callable[[float], None] = time.sleep,
    max_attempts: int = MAX_ATTEMPTS,
) -> Delivery:
    backoff = BACKOFF_FIRST_S
    waits: list[float] = []
    error = ""
    for attempt in range(1, max_attempts + 1):
        try:
            response = client.post(url, json=payload)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            wait, backoff = backoff, min(backoff * 2, BACKOFF_MAX_S)
        else:
            if response.is_success:
                return Delivery(True, attempt, "", tuple(waits))
            error = f"HTTP {response.status_code}: {response.text[:200]}".rstrip(": ")
            if response.status_code == 429:
                wait = retry_after_s(response, default=backoff)
            elif response.status_code >= 500:
                wait, backoff = backoff, min(backoff * 2, BACKOFF_MAX_S)
            else:
                return Delivery(False, attempt, error, tuple(waits))
        if attempt < max_attempts:
            waits.append(wait)
            sleep(wait)
    return Delivery(
        False, max_attempts, f"gave up after {max_attempts} attempts: {error}", tuple(waits)
    )


def retry_after_s(response: httpx.Response, *, default: float) -> float:
    """Discord's ``Retry-After`` header (seconds, possibly fractional), else the body's
    ``retry_after``; capped at 60 s so one channel's limit never holds a worker for long."""
    value: Any = response.headers.get("Retry-After")
    if value is None:
        try:
            value = response.json().get("retry_after")
        except (ValueError, AttributeError):
            value = None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return default
    if seconds != seconds or seconds < 0:  # NaN or negative: not a usable answer
        return default
    return min(seconds, RETRY_AFTER_MAX_S)
