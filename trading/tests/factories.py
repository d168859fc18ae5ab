"""Test data for the trading app, built through the services (engine units in)."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model

from trading.models import Trade
from trading.services import trades

_uids = itertools.count(1)
T0_MS = 1_790_000_000_000  # 2026-09-21, a fixed event time


def operator(username: str = "operator", *, staff: bool = True) -> Any:
    return get_user_model().objects.create_user(
        username=username, password="correct horse battery", is_staff=staff
    )


def trade(**overrides: Any) -> Trade:
    fields: dict[str, Any] = {
        "lane": "paper",
        "ticker": "KXBTC15M-26SEP211415-15",
        "direction": "long",
        "entry_price": 4200,
        "exit_price": 4600,
        "opened_at_ms": T0_MS,
        "closed_at_ms": T0_MS + 300_000,
        "contracts": 1000,
        "entry_cost": 4_200_000,
        "exit_proceeds": 4_600_000,
        "fees": 350_000,
        "pnl": 50_000,
        "exit_reason": "TAKE_PROFIT",
        "position_uid": f"paper-{next(_uids):016x}",
        "conviction": "NORMAL",
        "driver": "OBI",
        "regime": "MEDIUM",
        "reasons": {"obi": 0.7},
        "params_hash": "abc",
    }
    fields.update(overrides)
    return trades.trade_record(**fields)


def lane_state(
    lane: str = "paper", *, bankroll: int = 950_000_000, peak: int = 1_000_000_000
) -> Any:
    return trades.bot_state_save(
        lane=lane,
        bankroll=bankroll,
        peak=peak,
        daily_baseline=980_000_000,
        weekly_baseline=1_000_000_000,
        trades_today=3,
    )
