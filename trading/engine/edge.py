"""The live edge profile (domain.md §3.10): a pure verdict on a live entry, "" to allow.

Off unless ``edge_live_profile_enabled``; the paper lanes are never filtered (they keep
collecting data). Checked in the original's order: nothing to filter; long-only; shorts
need HIGH conviction or a YES price at or above the short floor; the ROC-contradiction
veto on NORMAL shorts; LOW conviction; the allowed drivers (exact match, suffix included);
blocked UTC hours; the long price cap, which OBI and ROC agreeing may override. Every
verdict is a skip reason in the signal log, so a filter that blocks everything shows.
"""

from __future__ import annotations

from trading.engine.params import Params
from trading.engine.signals import Direction

_RANK = {"LOW": 0, "NORMAL": 1, "HIGH": 2}


def blocked_hours(spec: str) -> frozenset[int]:
    """``"none"`` or comma-separated UTC hours 0–23 (``"0,1,2"``)."""
    if spec.strip().lower() == "none":
        return frozenset()
    hours = frozenset(int(part) for part in spec.split(",") if part.strip())
    if any(not 0 <= hour <= 23 for hour in hours):
        raise ValueError(f"hours must be 0-23, got {spec!r}")
    return hours


def edge_verdict(
    *,
    direction: Direction | None,
    conviction: str,
    driver: str,
    yes_price: int | None,
    roc: float | None,
    now: int,
    params: Params,
) -> str:
    if not params.edge_live_profile_enabled or direction is None or conviction == "NONE":
        return ""
    short = direction == "SHORT"
    if short and params.edge_live_long_only:
        return "EDGE_SHORT_BLOCKED"
    if short:
        rank = _RANK.get(conviction)
        if rank is None:
            return f"EDGE_UNKNOWN_CONVICTION_{conviction}"  # fails closed
        floor = params.edge_live_short_min_price
        if rank < _RANK["HIGH"] and yes_price is not None and yes_price < floor:
            return f"EDGE_SHORT_PRICE_LOW_{yes_price // 100}c<{floor // 100}c"
        threshold = params.edge_live_short_block_negative_roc_threshold
        if conviction == "NORMAL" and threshold < 0 and roc is not None and roc <= threshold:
            return f"EDGE_SHORT_NEGATIVE_ROC_{roc:.3f}<={threshold:.3f}"
    if params.edge_live_block_low_conviction and conviction == "LOW":
        return "EDGE_LOW_CONVICTION_BLOCKED"
    allowed = {d.strip() for d in params.edge_live_allowed_drivers.split(",") if d.strip()}
    if driver not in allowed:
        return f"EDGE_DRIVER_BLOCKED_{driver}"
    hour = (now // 3_600_000) % 24
    if hour in blocked_hours(params.edge_live_blocked_hours_utc):
        return f"EDGE_HOUR_BLOCKED_{hour:02d}UTC"
    cap = params.edge_live_max_entry_price
    if not short and yes_price is not None and yes_price > cap:
        agree = driver.startswith("OBI+ROC")
        if not (agree and params.edge_live_agreement_overrides_price_cap):
            return f"EDGE_PRICE_CAP_{yes_price // 100}c>{cap // 100}c"
    return ""
