"""Clients built from the exchange settings (interfaces.md §7): one place that reads
``KALSHI_*`` and ``COINBASE_WS_URL``, so the daemon and commands construct them alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from marketdata.kalshi.rest import KalshiRestClient
from marketdata.kalshi.signing import KalshiSigner, KeyFileError
from marketdata.kalshi.ws import KalshiWsClient
from marketdata.model.events import EventSink


def _settings() -> tuple[dict[str, Any], bool]:
    from django.conf import settings

    return settings.KBTC, bool(settings.ENV.production)


def signer_from_settings(*, production: bool | None = None) -> KalshiSigner:
    """The signer for ``KALSHI_API_KEY_ID`` + ``KALSHI_PRIVATE_KEY_PATH``; in production a
    key file readable by group or others is refused."""
    kbtc, is_production = _settings()
    key_id, path = kbtc["KALSHI_API_KEY_ID"], kbtc["KALSHI_PRIVATE_KEY_PATH"]
    if not key_id or path is None:
        raise KeyFileError("set KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH")
    return KalshiSigner.from_file(
        key_id, Path(path), production=is_production if production is None else production
    )


def rest_from_settings(signer: KalshiSigner, **options: Any) -> KalshiRestClient:
    kbtc, _ = _settings()
    return KalshiRestClient(kbtc["KALSHI_API_URL"], signer, **options)


def kalshi_ws_from_settings(
    signer: KalshiSigner,
    on_event: EventSink,
    *,
    event_time_fallback: Callable[[], int | None] | None = None,
    **options: Any,
) -> KalshiWsClient:
    kbtc, _ = _settings()
    return KalshiWsClient(
        kbtc["KALSHI_WS_URL"],
        signer,
        on_event,
        series_prefix=f"{kbtc['SERIES_TICKER']}-",
        event_time_fallback=event_time_fallback,
        **options,
    )


def coinbase_ws_url() -> str:
    kbtc, _ = _settings()
    return str(kbtc["COINBASE_WS_URL"])
