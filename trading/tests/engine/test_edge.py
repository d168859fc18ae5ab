"""The live edge profile (domain.md §3.10), rule by rule, and its place in a live lane's
entry (a skip reason in the signal log; paper never filtered)."""

from __future__ import annotations

import pytest

from trading.engine.edge import edge_verdict
from trading.engine.params import DEFAULT_PARAMS, ParamError, Params

ON = DEFAULT_PARAMS.with_overrides({"edge_live_profile_enabled": True})
H03 = 3 * 3_600_000  # 03:00 UTC on the epoch's first day


def verdict(params: Params = ON, **kw: object) -> str:
    args: dict[str, object] = {
        "direction": "LONG",
        "conviction": "NORMAL",
        "driver": "OBI",
        "yes_price": 2000,
        "roc": 0.1,
        "now": H03,
        "params": params,
    }
    args.update(kw)
    return edge_verdict(**args)  # type: ignore[arg-type]


def test_off_by_default_and_nothing_to_filter():
    assert verdict(DEFAULT_PARAMS, driver="OBI/WIDE") == ""
    assert verdict(direction=None) == ""
    assert verdict(conviction="NONE", driver="nope") == ""


def test_the_rules_in_order():
    long_only = ON.with_overrides({"edge_live_long_only": True})
    assert verdict(long_only, direction="SHORT") == "EDGE_SHORT_BLOCKED"
    assert verdict(direction="SHORT", yes_price=3000) == "EDGE_SHORT_PRICE_LOW_30c<40c"
    assert verdict(direction="SHORT", conviction="HIGH", yes_price=3000) == ""
    assert verdict(direction="SHORT", conviction="ODD") == "EDGE_UNKNOWN_CONVICTION_ODD"
    assert (
        verdict(direction="SHORT", yes_price=5000, roc=-0.2)
        == "EDGE_SHORT_NEGATIVE_ROC_-0.200<=-0.050"
    )
    assert verdict(conviction="LOW") == "EDGE_LOW_CONVICTION_BLOCKED"
    assert verdict(driver="OBI/TIGHT") == "EDGE_DRIVER_BLOCKED_OBI/TIGHT"
    hours = ON.with_overrides({"edge_live_blocked_hours_utc": "2,3"})
    assert verdict(hours) == "EDGE_HOUR_BLOCKED_03UTC"
    assert verdict(yes_price=3000) == "EDGE_PRICE_CAP_30c>25c"
    assert verdict(yes_price=3000, driver="OBI+ROC") == ""
    no_override = ON.with_overrides({"edge_live_agreement_overrides_price_cap": False})
    assert verdict(no_override, yes_price=3000, driver="OBI+ROC") == "EDGE_PRICE_CAP_30c>25c"


def test_blocked_hours_are_validated():
    with pytest.raises(ParamError, match="edge_live_blocked_hours_utc"):
        DEFAULT_PARAMS.with_overrides({"edge_live_blocked_hours_utc": "0,24"})
