"""The Kalshi signer built from the exchange settings (interfaces.md §7): the one place that
reads ``KALSHI_API_KEY_ID`` and ``KALSHI_PRIVATE_KEY_PATH``."""

from __future__ import annotations

from pathlib import Path

from marketdata.kalshi.signing import KalshiSigner, KeyFileError


def signer_from_settings(*, production: bool | None = None) -> KalshiSigner:
    """The signer for ``KALSHI_API_KEY_ID`` + ``KALSHI_PRIVATE_KEY_PATH``; in production a
    key file readable by group or others is refused."""
    from django.conf import settings

    kbtc = settings.KBTC
    key_id, path = kbtc["KALSHI_API_KEY_ID"], kbtc["KALSHI_PRIVATE_KEY_PATH"]
    if not key_id or path is None:
        raise KeyFileError("set KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH")
    if production is None:
        production = bool(settings.ENV.production)
    return KalshiSigner.from_file(key_id, Path(path), production=production)
