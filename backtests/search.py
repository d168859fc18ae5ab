"""Search spaces, presets, samplers and the Optuna storage of walk-forward studies.

A search space is a list of dimensions, each a lane or market parameter of
``trading.engine.params.Params`` with a low, a high and a step (or explicit choices); bounds
are checked against the parameter's own bounds and type, so a space cannot propose a set the
engine refuses. Presets (domain.md §4.4, §4.5):

- ``cli``: the original's walk-forward grid: risk 1–3 % by 0.5, stop 1.5–3 % by 0.5, OBI
  long 0.60/0.65/0.70, short 0.30/0.35/0.40, ROC look-back 2–5 (720 sets).
- ``tuner``: the auto-tuner's grid centred on the current values, 5 each (current ± 2 steps:
  risk and stop by 0.005, OBI long/short by 0.025, ROC look-back ± 2, at least 1): 3,125 sets.
- ``joint``: the joint optimiser of the hard stop (1–10 %), the re-entry cool-down (0–300 s
  by 30) and the exit health threshold (20–60 by 5), with the health exit on
  (``exit_intelligence_shadow_only`` false, else the threshold decides nothing).

Samplers (Optuna): ``grid`` (every combination, in a seeded order), ``random`` (seeded) and
``tpe`` (model-based, seeded). Studies live in the project's database (Optuna's RDB storage
on ``DATABASE_URL``; the embedded profile's SQLite file), so every worker and a resumed run
share them.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna

from trading.engine.params import DEFAULT_PARAMS, MARKET_PARAMS, ParamError, Params

SAMPLERS = ("grid", "random", "tpe")
PRESETS = ("cli", "tuner", "joint")


class SpaceError(ValueError):
    """A search space the parameter set cannot take; the message names the dimension."""


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    choices: tuple[Any, ...]

    @property
    def market(self) -> bool:
        return self.name in MARKET_PARAMS


def _field(name: str) -> dataclasses.Field[Any]:
    for spec in dataclasses.fields(Params):
        if spec.name == name:
            return spec
    raise SpaceError(f"{name}: unknown parameter")


def dimension(
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    step: float | None = None,
    choices: Sequence[Any] | None = None,
) -> Dimension:
    """A checked dimension: ``choices``, or ``low``..``high`` by ``step`` (inclusive)."""
    spec = _field(name)
    kind = str(spec.type)
    if choices is None:
        if low is None or high is None or step is None or step <= 0 or high < low:
            raise SpaceError(f"{name}: needs low <= high and a positive step, or choices")
        count = round((high - low) / step) + 1
        values: list[Any] = [low + i * step for i in range(count)]
        values = [round(v) if kind == "int" else round(float(v), 10) for v in values]
    else:
        values = list(choices)
    if not values:
        raise SpaceError(f"{name}: no values")
    lowest, highest = spec.metadata["min"], spec.metadata["max"]
    for value in values:
        if kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            raise SpaceError(f"{name}: must be int, got {value!r}")
        if kind == "float" and not isinstance(value, int | float):
            raise SpaceError(f"{name}: must be a number, got {value!r}")
        if lowest is not None and not lowest <= value <= highest:
            raise SpaceError(f"{name}: {value} is outside its bounds {lowest}..{highest}")
    unique = tuple(dict.fromkeys(float(v) if kind == "float" else v for v in values))
    return Dimension(name, unique)


@dataclass(frozen=True, slots=True)
class Space:
    name: str
    dimensions: tuple[Dimension, ...]
    fixed: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def size(self) -> int:
        size = 1
        for d in self.dimensions:
            size *= len(d.choices)
        return size

    def params_of(self, values: Mapping[str, Any], base: Params = DEFAULT_PARAMS) -> Params:
        """``base`` with the fixed overrides and ``values``; raises ``SpaceError`` when the
        combination breaks a relation of the parameter set (say long < short)."""
        try:
            return base.with_overrides({**self.fixed, **values})
        except ParamError as exc:
            raise SpaceError(f"{self.name}: {dict(values)}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dimensions": {d.name: list(d.choices) for d in self.dimensions},
            "fixed": dict(self.fixed),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Space:
        return cls(
            str(raw["name"]),
            tuple(dimension(n, choices=c) for n, c in raw["dimensions"].items()),
            dict(raw.get("fixed", {})),
        )


def _steps(name: str, current: float, step: float, *, floor: float | None = None) -> Dimension:
    """current ± 2 steps inside the parameter's bounds (and ``floor``)."""
    spec = _field(name)
    lowest = spec.metadata["min"] if floor is None else max(floor, spec.metadata["min"])
    values = [current + k * step for k in range(-2, 3)]
    kind = str(spec.type)
    kept = [
        int(v) if kind == "int" else round(v, 10)
        for v in values
        if lowest <= v <= spec.metadata["max"]
    ]
    return dimension(name, choices=kept)


def preset(name: str, current: Params = DEFAULT_PARAMS) -> Space:
    if name == "cli":
        return Space(
            "cli",
            (
                dimension("risk_per_trade_frac", low=0.01, high=0.03, step=0.005),
                dimension("stop_loss_frac", low=0.015, high=0.03, step=0.005),
                dimension("obi_long_threshold", choices=(0.60, 0.65, 0.70)),
                dimension("obi_short_threshold", choices=(0.30, 0.35, 0.40)),
                dimension("roc_lookback", low=2, high=5, step=1),
            ),
        )
    if name == "tuner":
        return Space(
            "tuner",
            (
                _steps("risk_per_trade_frac", current.risk_per_trade_frac, 0.005, floor=0.005),
                _steps("stop_loss_frac", current.stop_loss_frac, 0.005, floor=0.005),
                _steps("obi_long_threshold", current.obi_long_threshold, 0.025),
                _steps("obi_short_threshold", current.obi_short_threshold, 0.025),
                _steps("roc_lookback", current.roc_lookback, 1, floor=1),
            ),
        )
    if name == "joint":
        return Space(
            "joint",
            (
                dimension("stop_loss_frac", low=0.01, high=0.10, step=0.01),
                dimension("reentry_cooldown_s", low=0, high=300, step=30),
                dimension("health_score_threshold", low=20.0, high=60.0, step=5.0),
            ),
            {"exit_intelligence_shadow_only": False},
        )
    raise SpaceError(f"space must be one of {', '.join(PRESETS)}, got {name!r}")


def grid(space: Space) -> list[dict[str, Any]]:
    """Every combination, in the dimensions' order (for tests and small spaces)."""
    names = [d.name for d in space.dimensions]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(
        *(d.choices for d in space.dimensions)
    )]  # fmt: skip


# --- Optuna -------------------------------------------------------------------------------


def distributions(space: Space) -> dict[str, optuna.distributions.BaseDistribution]:
    return {
        d.name: optuna.distributions.CategoricalDistribution(d.choices) for d in space.dimensions
    }


def sampler_of(kind: str, space: Space, *, seed: int, batch: int) -> optuna.samplers.BaseSampler:
    """A sampler for one batch's asks. Seeded by (seed, batch): a resumed study (a new
    process) proposes what an uninterrupted one would have, never batch 0's draws again."""
    batch_seed = (seed * 100_003 + batch) % 2**32
    if kind == "grid":
        return optuna.samplers.GridSampler(
            {d.name: list(d.choices) for d in space.dimensions}, seed=batch_seed
        )
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=batch_seed)
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=batch_seed, n_startup_trials=10)
    raise SpaceError(f"sampler must be one of {', '.join(SAMPLERS)}, got {kind!r}")


def storage_url() -> str:
    """Optuna's RDB URL for the project's database (SQLAlchemy spelling)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    from sqlalchemy.engine import URL

    url = URL.create(
        "postgresql+psycopg",
        username=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=int(db["PORT"]) if db.get("PORT") else None,
        database=db["NAME"],
    )
    return url.render_as_string(hide_password=False)


@functools.cache
def storage(url: str) -> optuna.storages.RDBStorage:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    opened = optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    _opened[url] = opened
    return opened


def close_storage() -> None:
    """Close the storages' database connections (tests: before their database is dropped)."""
    for url in list(_opened):
        _opened.pop(url).engine.dispose()
    storage.cache_clear()


_opened: dict[str, optuna.storages.RDBStorage] = {}


def load_study(name: str, sampler: optuna.samplers.BaseSampler) -> optuna.Study:
    return optuna.create_study(
        study_name=name,
        storage=storage(storage_url()),
        sampler=sampler,
        direction="maximize",
        load_if_exists=True,
    )


def group_key(values: Mapping[str, Any], space: Space) -> str:
    """The market parameters of a set (JSON): sets of one group share one pass."""
    market = {d.name: values[d.name] for d in space.dimensions if d.market}
    market.update({k: v for k, v in space.fixed.items() if k in MARKET_PARAMS})
    return json.dumps(market, sort_keys=True)
