import json

import pytest

from trading.engine.params import (
    DEFAULT_PARAMS,
    PARAMS_SCHEMA,
    ParamError,
    Params,
    market_differences,
    with_market_of,
)


def test_it_has_the_interfaces_defaults_in_seconds():
    p = Params()
    assert (p.min_hold_s, p.obi_max_hold_s, p.roc_max_hold_s, p.reentry_cooldown_s) == (
        120,
        540,
        360,
        30,
    )
    assert (p.obi_history_len, p.spread_history_len, p.sd_baseline_window) == (20, 180, 60)
    assert (p.stop_loss_frac, p.short_stop_loss_mult, p.profit_target_mult) == (0.02, 1.5, 1.5)
    assert p.paper_breaker_halts is False
    assert p.series_ticker == "KXBTC15M"
    assert (p.candle_interval_s, p.exit_candle_s) == (900, 180)


def test_an_override_returns_a_new_validated_set():
    p = DEFAULT_PARAMS.with_overrides({"min_hold_s": 60, "stop_loss_frac": 1})
    assert p.min_hold_s == 60
    assert p.stop_loss_frac == 1.0
    assert isinstance(p.stop_loss_frac, float)
    assert DEFAULT_PARAMS.min_hold_s == 120


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("min_hold_s", -1, "min_hold_s: must be between 0 and 3600, got -1"),
        ("min_hold_s", 3601, "min_hold_s: must be between 0 and 3600, got 3601"),
        ("obi_long_threshold", 1.01, "obi_long_threshold: must be between 0.5 and 1.0, got 1.01"),
        ("min_hold_s", True, "min_hold_s: must be int, got True"),
        ("min_hold_s", 1.5, "min_hold_s: must be int, got 1.5"),
        ("paper_breaker_halts", 1, "paper_breaker_halts: must be bool, got 1"),
        ("series_ticker", "", "series_ticker: must be str, got ''"),
        ("no_such", 1, "no_such: unknown parameter"),
        ("exit_candle_s", 59, "exit_candle_s: must be between 60 and 900, got 59"),
        ("exit_candle_s", 901, "exit_candle_s: must be between 60 and 900, got 901"),
    ],
)
def test_an_invalid_override_names_the_parameter_and_its_bounds(name, value, message):
    with pytest.raises(ParamError) as excinfo:
        DEFAULT_PARAMS.with_overrides({name: value})
    assert str(excinfo.value) == message


def test_bounds_are_inclusive():
    assert DEFAULT_PARAMS.with_overrides({"min_hold_s": 0}).min_hold_s == 0
    assert DEFAULT_PARAMS.with_overrides({"min_hold_s": 3600}).min_hold_s == 3600


def test_related_parameters_must_stay_ordered():
    with pytest.raises(ParamError, match="atr_low_threshold: must not exceed atr_high_threshold"):
        DEFAULT_PARAMS.with_overrides({"atr_low_threshold": 0.6})


def test_the_hash_is_stable_and_changes_with_any_value():
    assert Params().params_hash() == DEFAULT_PARAMS.params_hash()
    assert (
        DEFAULT_PARAMS.with_overrides({"min_hold_s": 121}).params_hash()
        != DEFAULT_PARAMS.params_hash()
    )


def test_the_schema_lists_every_parameter_as_plain_json():
    names = [row["name"] for row in PARAMS_SCHEMA]
    assert names == list(DEFAULT_PARAMS.to_dict())
    row = next(r for r in PARAMS_SCHEMA if r["name"] == "min_hold_s")
    assert row == {
        "name": "min_hold_s",
        "type": "int",
        "default": 120,
        "min": 0,
        "max": 3600,
        "doc": row["doc"],
        "scope": "lane",
    }
    json.dumps(PARAMS_SCHEMA)


def test_market_parameters_are_those_that_shape_the_shared_market_state():
    scopes = {row["name"]: row["scope"] for row in PARAMS_SCHEMA}
    for name in ("candle_interval_s", "atr_period", "obi_history_len", "spread_history_len"):
        assert scopes[name] == "market"
    for name in ("obi_long_threshold", "roc_long_threshold", "stop_loss_frac", "max_drawdown"):
        assert scopes[name] == "lane"
    lane = DEFAULT_PARAMS.with_overrides({"obi_history_len": 5, "min_hold_s": 60})
    assert market_differences(lane, DEFAULT_PARAMS) == ["obi_history_len"]
    mixed = with_market_of(lane, DEFAULT_PARAMS)
    assert (mixed.obi_history_len, mixed.min_hold_s) == (DEFAULT_PARAMS.obi_history_len, 60)


def test_it_is_immutable():
    with pytest.raises(AttributeError):
        DEFAULT_PARAMS.min_hold_s = 1  # type: ignore[misc]
