"""Lanes share a second's ROC direction and verdict when their parameters agree on what
those read (``trading.engine.shared_keys``): the lists must name every lane parameter the
shared work reads. Checked by running the real functions over three simulator hours' market
states, every pair of directions and several parameter sets, with parameters that record
what is read."""

from __future__ import annotations

import itertools
from typing import Any

from marketdata.sim.prices import history_candles
from marketdata.sim.stream import generate_events, history_for
from trading.engine.engine import Engine
from trading.engine.entry import market_signals, shared_verdict
from trading.engine.params import DEFAULT_PARAMS, MARKET_PARAMS, Params
from trading.engine.shared_keys import ROC_SIGNAL_PARAMS, VERDICT_PARAMS, share_key
from trading.engine.signals.roc import roc_direction

START = 1_767_225_600_000
SEED = 7
DIRECTIONS: tuple[Any, ...] = (None, "LONG", "SHORT")
VARIANTS: tuple[dict[str, Any], ...] = (
    {},
    {"roc_low_conviction_paper_enabled": True, "sd_enabled": False},
    {"tfi_conviction_enabled": False, "short_trend_lookback_candles": 2},
)


class Recording:
    """A parameter set that notes every name read from it."""

    def __init__(self, params: Params) -> None:
        self._params = params
        self.read: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        self.read.add(name)
        return getattr(self._params, name)


def market_states():
    """The market of an engine fed a simulator stream, every 30 s for 3 hours."""
    history = history_for(SEED, START, 180)
    engine = Engine(DEFAULT_PARAMS, lanes=())
    engine.warm_up(history_candles(history, START, count=60))
    last = None
    for event in generate_events(SEED, START, 180, history):
        engine.on_event(event)
        if last is None or engine.now - last >= 30_000:
            last = engine.now
            yield engine.market, engine.now


def test_the_shared_work_reads_only_the_parameters_of_its_key():
    verdict = [Recording(DEFAULT_PARAMS.with_overrides(v)) for v in VARIANTS]
    roc = [Recording(p._params) for p in verdict]
    for market, now in market_states():
        seen = market.regime.regime
        for regime in ("LOW", "MEDIUM", "HIGH"):  # every regime's branches on this market
            market.regime.regime = regime
            for obi, direction in itertools.product(DIRECTIONS, DIRECTIONS):
                signals = market_signals(market, now, obi, direction)
                for params in verdict:
                    shared_verdict(signals, market, now=now, params=params)  # type: ignore[arg-type]
            atr_pcts = (market.regime.atr_pct, None)  # None: before ATR, static thresholds
            for obi, atr_pct, params in itertools.product(DIRECTIONS, atr_pcts, roc):
                roc_direction(
                    market.recent_candles,
                    atr_pct=atr_pct,
                    regime=regime,
                    holding=False,
                    obi=obi,
                    params=params,  # type: ignore[arg-type]
                )
        market.regime.regime = seen
    read_by_verdict = set().union(*(p.read for p in verdict))
    read_by_roc = set().union(*(p.read for p in roc))
    assert read_by_verdict - MARKET_PARAMS <= set(VERDICT_PARAMS)
    assert read_by_roc - MARKET_PARAMS <= set(ROC_SIGNAL_PARAMS)
    # and the lists name nothing the work does not read (the check above is not vacuous)
    assert set(VERDICT_PARAMS) - MARKET_PARAMS <= read_by_verdict
    assert set(ROC_SIGNAL_PARAMS) - MARKET_PARAMS <= read_by_roc


def test_keys_are_equal_exactly_when_the_values_are():
    base = DEFAULT_PARAMS
    other_exits = base.with_overrides({"stop_loss_frac": 0.1, "obi_long_threshold": 0.7})
    assert share_key(base, VERDICT_PARAMS) == share_key(other_exits, VERDICT_PARAMS)
    assert share_key(base, ROC_SIGNAL_PARAMS) == share_key(other_exits, ROC_SIGNAL_PARAMS)
    for name in VERDICT_PARAMS:
        value: Any = getattr(base, name)
        changed: Any
        if isinstance(value, bool):
            changed = not value
        elif isinstance(value, float):
            changed = value + 1e-12  # the smallest change counts
        else:
            changed = value + 1
        try:
            moved = base.with_overrides({name: changed})
        except ValueError:
            changed = value - 1e-12 if isinstance(value, float) else value - 1
            moved = base.with_overrides({name: changed})
        assert share_key(moved, VERDICT_PARAMS) != share_key(base, VERDICT_PARAMS), name
