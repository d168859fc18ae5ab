"""Exchange timestamps → integer milliseconds since the epoch, UTC (interfaces.md §1, §4).

Kalshi sends RFC 3339 with ``Z`` and optional fractional seconds (up to microseconds seen);
Coinbase sends RFC 3339 with nanoseconds and, in heartbeats, Go's ``time.Time`` print
(``2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.5``). Anything else raises: a time is
never defaulted.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from marketdata.model.units import WireFormatError

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?(?:\s+UTC)?(?:\s+m=[+-][\d.]+)?$"
)


def parse_time_ms(value: object, field: str = "time") -> int:
    """An RFC 3339 (or Go-printed) UTC timestamp string → epoch milliseconds (truncated)."""
    if not isinstance(value, str):
        raise WireFormatError(f"{field}: expected a timestamp string, got {value!r}")
    match = _RFC3339.match(value.strip())
    if match is None:
        raise WireFormatError(f"{field}: not an RFC 3339 timestamp: {value!r}")
    year, month, day, hour, minute, second, frac, zone = match.groups()
    if zone not in (None, "Z", "+0000", "+00:00", "-0000", "-00:00"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset_min = sign * (int(digits[:2]) * 60 + int(digits[2:]))
    else:
        offset_min = 0
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError as exc:
        raise WireFormatError(f"{field}: {value!r}: {exc}") from None
    millis = int((frac or "0").ljust(3, "0")[:3])
    return int(moment.timestamp()) * 1000 + millis - offset_min * 60_000


def parse_epoch_s_ms(value: object, field: str = "ts") -> int:
    """An integer Unix-seconds field → milliseconds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireFormatError(f"{field}: expected integer Unix seconds, got {value!r}")
    return value * 1000


def parse_epoch_ms(value: object, field: str = "ts_ms") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireFormatError(f"{field}: expected integer milliseconds, got {value!r}")
    return value
