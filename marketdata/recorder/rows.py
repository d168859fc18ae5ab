"""Conversions between engine units (interfaces.md §1) and database columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CENT = Decimal("0.01")


def ms_to_utc(ts: int) -> datetime:
    """Epoch milliseconds → aware UTC datetime, exactly (no float on the way)."""
    return EPOCH + timedelta(milliseconds=ts)


def utc_to_ms(when: datetime) -> int:
    """Aware datetime → epoch milliseconds (sub-millisecond parts are truncated)."""
    delta = when - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def btc_to_decimal(price: float) -> Decimal:
    """A BTC price (float is acceptable in code) → ``Decimal(14,2)`` via its shortest repr."""
    return Decimal(repr(price)).quantize(CENT)
