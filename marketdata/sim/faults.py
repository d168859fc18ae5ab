"""Feed faults, chosen at start (``--faults``) and switchable at ``/sim/faults``.

Rates are probabilities per frame (WS) or per request (REST reads, order writes). Decisions
come from a seeded generator per connection, apart from the market's own generators, so switching a
fault on never changes the market itself, and a run with the same faults repeats.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any


@dataclass
class FaultConfig:
    ws_drop: float = 0.0  # abort the TCP connection after a frame
    seq_skip: float = 0.0  # Kalshi/Coinbase sequence number jumps by one (a gap)
    seq_repeat: float = 0.0  # a frame is sent twice with the same seq
    ws_delay_ms: int = 0  # every WS frame is held this long
    reorder: float = 0.0  # a frame swaps places with the next one
    malformed: float = 0.0  # a frame is replaced by broken JSON
    rest_429: float = 0.0
    rest_5xx: float = 0.0
    rest_timeout: float = 0.0  # the request hangs for ``rest_timeout_s`` then gets a 504
    rest_timeout_s: float = 30.0
    rest_slow: float = 0.0  # the response is held ``rest_slow_ms``
    rest_slow_ms: int = 2000
    # Order writes (create / cancel / amend / decrease, both endpoints), per request:
    order_429: float = 0.0  # refused before the book saw it (definitely not placed)
    order_5xx: float = 0.0  # 500/502/503, not placed (the client cannot know that)
    order_timeout: float = 0.0  # hangs ``rest_timeout_s``, then 504; not placed
    order_slow: float = 0.0  # processed after ``rest_slow_ms``
    order_lost: float = 0.0  # creates only: placed, then the connection drops (no answer)

    RATES = (
        "ws_drop",
        "seq_skip",
        "seq_repeat",
        "reorder",
        "malformed",
        "rest_429",
        "rest_5xx",
        "rest_timeout",
        "rest_slow",
        "order_429",
        "order_5xx",
        "order_timeout",
        "order_slow",
        "order_lost",
    )

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial change; unknown names or out-of-range values raise ValueError."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        staged = {}
        for name, value in changes.items():
            if name not in fields:
                raise ValueError(f"unknown fault {name!r}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name}: expected a number, got {value!r}")
            if name in self.RATES and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: rate must be within 0..1")
            if value < 0:
                raise ValueError(f"{name}: must not be negative")
            staged[name] = type(getattr(self, name))(value)
        for name, value in staged.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def parse(cls, option: str) -> FaultConfig:
        """``"seq_skip=0.01,rest_429=0.1"`` → config (empty string → no faults)."""
        config = cls()
        changes: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in option.split(","))):
            name, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault {part!r} wants NAME=VALUE")
            changes[name.strip()] = float(value)
        config.update(changes)
        return config


class FaultDice:
    """One connection's (or the REST side's) seeded fault decisions."""

    def __init__(self, config: FaultConfig, seed: str) -> None:
        self.config = config
        self.rng = random.Random(f"kbtc-faults:{seed}")

    def hit(self, name: str) -> bool:
        rate = getattr(self.config, name)
        return rate > 0 and self.rng.random() < rate
