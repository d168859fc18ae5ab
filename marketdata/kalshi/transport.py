"""Signed, paced and retried HTTP to Kalshi's REST API (exchange-protocols.md §1.2, §1.6, §1.7).

- Every request that has a signer is signed (§1.2); public reads verify either way.
- Two token buckets pace reads and writes within the account's tier (§1.6).
- Reads retry with jittered backoff on 429, 5xx, timeouts and connection failures.
- Lists follow ``cursor``; a malformed row is counted and skipped, never guessed.

The endpoints themselves (and the careful create-order path) are ``rest.KalshiRestClient``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import httpx
import structlog

from marketdata.kalshi.errors import (
    KalshiError,
    KalshiRateLimited,
    KalshiServerError,
    KalshiTransportError,
    ResponseFormatError,
    error_for_status,
)
from marketdata.kalshi.signing import KalshiSigner, strip_query, wall_ms
from marketdata.kalshi.wire import mapping
from marketdata.model.units import WireFormatError
from marketdata.ratelimit import BASIC, DEFAULT_COST, Backoff, RateTier, TokenBucket

log = structlog.get_logger(__name__)

T = TypeVar("T")
MAX_PAGES = 50


@dataclass(slots=True)
class RestStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    errors: int = 0
    malformed: int = 0
    ambiguous_creates: int = 0
    recovered_creates: int = 0
    last_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class KalshiTransport:
    """One persistent HTTP client for Kalshi's REST API.

    ``base_url`` includes the ``/trade-api/v2`` prefix. ``transport`` exists for tests
    (``httpx.MockTransport``); production leaves it None. The write settings
    (``order_timeout_s``, ``max_write_attempts``, ``lookup_attempts``) are read by the
    client's create path.
    """

    def __init__(
        self,
        base_url: str,
        signer: KalshiSigner | None = None,
        *,
        tier: RateTier = BASIC,
        timeout_s: float = 10.0,
        order_timeout_s: float = 15.0,
        max_read_attempts: int = 5,
        max_write_attempts: int = 4,
        backoff_base_s: float = 0.25,
        backoff_cap_s: float = 8.0,
        lookup_attempts: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        clock_ms: Callable[[], int] = wall_ms,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        read_bucket: TokenBucket | None = None,
        write_bucket: TokenBucket | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport
        )
        self._signer = signer
        self.order_timeout_s = order_timeout_s
        self.max_read_attempts = max_read_attempts
        self.max_write_attempts = max_write_attempts
        self.lookup_attempts = lookup_attempts
        self._backoff_args = (backoff_base_s, backoff_cap_s)
        self._clock_ms = clock_ms
        self._sleep = sleep
        self.read_bucket = read_bucket or TokenBucket(tier.read_per_s, tier.read_capacity)
        self.write_bucket = write_bucket or TokenBucket(tier.write_per_s, tier.write_capacity)
        self.stats = RestStats()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _backoff(self) -> Backoff:
        return Backoff(*self._backoff_args)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        timeout_s: float | None = None,
    ) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        request = self._http.build_request(
            method,
            path,
            params=clean or None,
            json=json,
            timeout=timeout_s if timeout_s is not None else httpx.USE_CLIENT_DEFAULT,
        )
        if self._signer is not None:
            # Sign exactly the path the server will see, prefix included, query dropped.
            signed_path = strip_query(request.url.raw_path.decode("ascii"))
            request.headers.update(self._signer.headers(method, signed_path))
        self.stats.requests += 1
        return await self._http.send(request)

    def _fail(self, error: KalshiError) -> KalshiError:
        self.stats.errors += 1
        self.stats.last_error = str(error)
        return error

    async def _read(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        method: str = "GET",
        cost: int = DEFAULT_COST,
        bucket: TokenBucket | None = None,
    ) -> Any:
        """A retried request: 429, 5xx and transport failures back off and try again."""
        backoff = self._backoff()
        bucket = bucket or self.read_bucket
        for attempt in range(1, self.max_read_attempts + 1):
            await bucket.acquire(cost)
            try:
                response = await self._send(method, path, params=params)
            except httpx.TransportError as exc:  # timeouts included
                error: KalshiError = KalshiTransportError(None, type(exc).__name__, str(exc))
            else:
                if response.is_success:
                    try:
                        return response.json()
                    except ValueError:
                        raise self._fail(
                            ResponseFormatError(response.status_code, "bad_json", path)
                        ) from None
                error = error_for_status(response.status_code, response.text)
                if isinstance(error, KalshiRateLimited):
                    self.stats.rate_limited += 1
                if not isinstance(error, KalshiRateLimited | KalshiServerError):
                    raise self._fail(error)
            if attempt == self.max_read_attempts:
                raise self._fail(error)
            self.stats.retries += 1
            delay = backoff.next_delay()
            log.info(
                "kalshi_rest_retry",
                path=path,
                attempt=attempt,
                error=str(error),
                delay_s=round(delay, 3),
            )
            await self._sleep(delay)
        raise AssertionError("unreachable")

    def _parse(self, parser: Callable[[Any], T], value: Any, what: str) -> T:
        try:
            return parser(value)
        except WireFormatError as exc:
            self.stats.malformed += 1
            raise self._fail(ResponseFormatError(200, "malformed", f"{what}: {exc}")) from None

    def _parse_rows(self, parser: Callable[[Any], T], rows: Iterable[Any], what: str) -> list[T]:
        """Parse a list; a malformed row is counted, logged and skipped, never guessed."""
        parsed: list[T] = []
        for row in rows:
            try:
                parsed.append(parser(row))
            except WireFormatError as exc:
                self.stats.malformed += 1
                log.warning("kalshi_rest_malformed_row", what=what, reason=str(exc))
        return parsed

    async def _paginate(
        self, path: str, key: str, params: dict[str, Any], max_pages: int = MAX_PAGES
    ) -> list[Any]:
        """Follow ``cursor`` until it comes back empty or absent (protocols §1.7)."""
        rows: list[Any] = []
        cursor: str | None = None
        for _ in range(max_pages):
            body = mapping(await self._read(path, {**params, "cursor": cursor}), path)
            page = body.get(key) or []
            if not isinstance(page, list):
                raise self._fail(ResponseFormatError(200, "malformed", f"{path}: {key}"))
            rows.extend(page)
            cursor = body.get("cursor") or None
            if cursor is None:
                return rows
        log.warning("kalshi_rest_page_limit", path=path, pages=max_pages)
        return rows
