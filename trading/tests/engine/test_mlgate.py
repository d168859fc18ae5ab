"""The ML gate rule (domain.md §7.4, §13.5): placed before the price guard, per lane, shadow
records without gating, rejection and conviction up in gate mode, fail-open everywhere."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from trading.engine.intents import PlaceOrder
from trading.engine.lane import LaneSpec
from trading.engine.params import ParamError, Params
from trading.engine.records import Decision, FeaturesCaptured
from trading.tests.engine.factories import Scenario, of


class Fixed:
    """A predictor answering a fixed p_win (the daemon's GatePredictor is tested in mlgate)."""

    def __init__(self, p: float, threshold: float = 0.55, fail: Exception | None = None) -> None:
        self.p, self.threshold, self.version, self.fail = p, threshold, "test", fail
        self.seen: list[dict[str, float | int | None]] = []

    def p_win(self, features: Mapping[str, float | int | None]) -> float:
        self.seen.append(dict(features))
        if self.fail is not None:
            raise self.fail
        return self.p


def run(mode: str, predictor=None, *, load_error: str = "", live_mode: str = "off"):
    gated = Params().with_overrides({"ml_gate_mode": mode})
    other = Params().with_overrides({"ml_gate_mode": live_mode})
    s = Scenario(lanes=(LaneSpec("paper", "paper", gated), LaneSpec("live", "live", other)))  # type: ignore[arg-type]
    s.engine.ml_gate.set_predictor(predictor, load_error)
    out = s.enter_long()
    entry = {d.lane: d for d in of(out, Decision) if d.reason != "NO_SIGNAL"}
    return s, out, entry


def rule(decision: Decision, name: str = "ml_gate") -> str | None:
    return dict(decision.rules).get(name)


def orders(out, lane="paper") -> list[PlaceOrder]:
    return [o for o in of(out, PlaceOrder) if o.lane == lane]


def test_off_by_default_adds_no_rule():
    assert Params().ml_gate_mode == "off"
    _, out, entry = run("off", Fixed(0.0))
    assert entry["paper"].reason == "ENTRY"
    assert rule(entry["paper"]) is None
    assert orders(out)


def test_gate_rejects_below_the_threshold_before_the_price_guard():
    predictor = Fixed(0.3)
    s, out, entry = run("gate", predictor)
    paper = entry["paper"]
    assert paper.reason == "ML_GATE_REJECTED_p0.30"
    assert (paper.conviction, paper.size_mult, paper.count) == ("NONE", 0.0, 0)
    names = [name for name, _ in paper.rules]
    assert names.index("short_trend") < names.index("ml_gate") < names.index("price_guard")
    assert not orders(out)
    assert orders(out, "live"), "the other lane's gate is off: it enters"
    assert rule(entry["live"]) is None
    assert s.engine.ml_gate.health()["rejected"] >= 1


def test_shadow_records_p_win_and_enters_as_without_it():
    _, out_off, off = run("off")
    _, out, shadow = run("shadow", Fixed(0.3))
    assert rule(shadow["paper"]) == "SHADOW_REJECT_p0.30"
    assert shadow["paper"].reason == "ENTRY"
    assert [(o.count, o.yes_price) for o in orders(out)] == [
        (o.count, o.yes_price) for o in orders(out_off)
    ]
    _, _, up = run("shadow", Fixed(0.9))
    assert rule(up["paper"]) == "SHADOW_UP_p0.90"
    assert up["paper"].conviction == off["paper"].conviction


def test_gate_raises_conviction_one_step_above_ml_conviction_up_p():
    _, out_off, off = run("off")
    _, out, up = run("gate", Fixed(0.8))
    paper = up["paper"]
    assert rule(paper) == "CONVICTION_UP_p0.80"
    ladder = ("NONE", "LOW", "NORMAL", "HIGH")
    assert ladder.index(paper.conviction) == ladder.index(off["paper"].conviction) + 1
    assert paper.size_mult > off["paper"].size_mult
    assert orders(out)[0].count > orders(out_off)[0].count
    _, _, plain = run("gate", Fixed(0.6))
    assert rule(plain["paper"]) == "ok_p0.60"
    assert plain["paper"].conviction == off["paper"].conviction


@pytest.mark.parametrize(
    ("predictor", "load_error", "outcome"),
    [
        (None, "", "FAIL_OPEN_no_model"),
        (None, "ValueError: bad artifact", "FAIL_OPEN_load_failed"),
        (Fixed(0.0, fail=RuntimeError("boom")), "", "FAIL_OPEN_error"),
        (Fixed(float("nan")), "", "FAIL_OPEN_error"),
    ],
)
def test_fail_open(predictor, load_error, outcome):
    s, out, entry = run("gate", predictor, load_error=load_error)
    assert rule(entry["paper"]) == outcome
    assert entry["paper"].reason == "ENTRY"
    assert orders(out)
    health = s.engine.ml_gate.health()
    assert health["fail_open"] >= 1
    assert health["load_error"] == load_error
    if predictor is not None:
        assert health["last_error"]


def test_the_gate_reads_the_vector_the_entry_captures():
    predictor = Fixed(0.6)
    s, out, _ = run("gate", predictor)
    s.fill_all(orders(out))
    captured = [c for c in of(s.outputs, FeaturesCaptured) if c.lane == "paper"]
    assert captured
    assert predictor.seen[-1] == captured[0].features


def test_mode_is_checked():
    with pytest.raises(ParamError, match="ml_gate_mode: must be one of off, shadow, gate"):
        Params().with_overrides({"ml_gate_mode": "on"})
    with pytest.raises(ParamError, match="ml_conviction_up_p"):
        Params().with_overrides({"ml_conviction_up_p": 1.5})
