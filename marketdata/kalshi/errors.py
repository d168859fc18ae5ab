"""Typed Kalshi errors carrying the exchange's status, code and message (protocols §1.5)."""

from __future__ import annotations

import json
from typing import Any


class KalshiError(Exception):
    """An error answer from Kalshi (or a transport failure when ``status`` is None)."""

    def __init__(self, status: int | None, code: str, message: str, body: str = "") -> None:
        super().__init__(f"{status} {code}: {message}" if status else f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = body


class KalshiBadRequest(KalshiError):
    """400: bad parameters (price off the grid, invalid status filter, ...)."""


class KalshiAuthError(KalshiError):
    """401/403: missing or bad signature, or a key without the permission."""


class KalshiNotFound(KalshiError):
    """404: unknown market, order, series."""


class KalshiConflict(KalshiError):
    """409: duplicate ``client_order_id`` or a closed market (``market_closed``)."""


class KalshiRateLimited(KalshiError):
    """429: out of tokens. Kalshi sends no Retry-After; back off and retry."""


class KalshiServerError(KalshiError):
    """5xx: the outcome of a write is unknown."""


class KalshiTransportError(KalshiError):
    """No usable HTTP answer (timeout, connection reset, unreadable body)."""


class OrderOutcomeUnknown(KalshiError):
    """A create was sent, its answer lost, and the order could not be found or ruled out."""


class ResponseFormatError(KalshiError):
    """A 2xx answer whose body does not have the documented shape."""


_BY_STATUS: dict[int, type[KalshiError]] = {
    400: KalshiBadRequest,
    401: KalshiAuthError,
    403: KalshiAuthError,
    404: KalshiNotFound,
    409: KalshiConflict,
    429: KalshiRateLimited,
}


def parse_error_body(text: str) -> tuple[str, str]:
    """(code, message) from any of Kalshi's error shapes.

    Nested ``{"error": {"code", "message"}}`` (observed on legacy endpoints), flat
    ``{"code", "message"}`` (SDK 3 model, maybe the V2 endpoints; §7 point 3 is open, so both
    are read), and the 429's plain ``{"error": "too many requests"}``.
    """
    try:
        body: Any = json.loads(text)
    except ValueError:
        return "", text.strip()[:200]
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict):
            return str(inner.get("code", "")), str(inner.get("message", ""))
        if isinstance(inner, str):
            return "", inner
        if "code" in body or "message" in body:
            return str(body.get("code", "")), str(body.get("message", ""))
    return "", text.strip()[:200]


def error_for_status(status: int, text: str) -> KalshiError:
    code, message = parse_error_body(text)
    if status >= 500:
        cls: type[KalshiError] = KalshiServerError
    else:
        cls = _BY_STATUS.get(status, KalshiError)
    return cls(status, code or f"http_{status}", message, text[:500])
