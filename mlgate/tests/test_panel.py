"""The dashboard's ML gate panel: the decisions' gate outcomes reach it through the sink's
health report (records → sink → push), with the active model and the shadow comparison;
the page load renders what a push renders."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client, override_settings

from mlgate.services import save_model
from mlgate.sink import RECENT, ModelWatch
from mlgate.tests.test_training import synthetic
from mlgate.training import train
from trading import dashboard, push
from trading.engine.lane import LaneSpec
from trading.engine.params import Params
from trading.engine.records import Decision
from trading.tests.engine.factories import Scenario, of
from trading.tests.engine.test_mlgate import Fixed

pytestmark = pytest.mark.django_db


def _shadow_decisions(p: float) -> list[Any]:
    params = Params().with_overrides({"ml_gate_mode": "shadow"})
    s = Scenario(lanes=(LaneSpec("paper", "paper", params),))  # type: ignore[arg-type]
    s.engine.ml_gate.set_predictor(Fixed(p), "")
    return list(s.enter_long())


def _health(watch: ModelWatch) -> dict[str, Any]:
    return {
        "ts": 0,
        "feeds": [],
        "ml_gate": {"model": "7", "threshold": 0.55, "load_error": "", "judged": 3,
                    "rejected": 0, "conviction_up": 0, "fail_open": 1, "last_error": ""},
        **watch.health(),
    }  # fmt: skip


def test_the_sink_keeps_the_latest_gate_outcomes_for_the_panel():
    watch = ModelWatch()
    out = _shadow_decisions(0.43)
    assert any(dict(d.rules).get("ml_gate") for d in of(out, Decision))
    watch.consume(None, out, 0)
    [recent] = watch.health()["ml_model"]["recent"]
    assert (recent["lane"], recent["p"], recent["outcome"]) == (
        "paper",
        0.43,
        "SHADOW_REJECT_p0.43",
    )
    for _ in range(RECENT + 2):
        watch.consume(None, out, 0)
    assert len(watch.health()["ml_model"]["recent"]) == RECENT
    push.assert_plain_json(watch.health())


def test_the_panel_shows_the_model_the_trader_and_why_gating_waits():
    watch = ModelWatch()
    html = dashboard.render_topic("health", _health(watch), can_control=False)[0]
    assert 'id="ml-gate-panel"' in html
    assert "no active model: the gate fails open" in html
    version = save_model(train(synthetic(300)), source="paper", lanes=[], activate=True)
    watch.consume(None, _shadow_decisions(0.61), 0)
    html = dashboard.render_topic("health", _health(watch), can_control=False)[0]
    panel = html[html.index('id="ml-gate-panel"') :]
    assert f'<span class="ml-model">{version.pk}</span>' in panel
    assert '<strong class="ml-mode">off</strong>' in panel
    assert "failed open 1" in panel
    assert "<td>0.61</td>" in panel
    assert "gating not allowed: 0 shadowed trades since model" in panel


@override_settings(ANONYMOUS_READS=True)
def test_the_page_load_renders_the_panel_as_a_push_does():
    save_model(train(synthetic(300)), source="paper", lanes=[], activate=True)
    watch = ModelWatch()
    watch.consume(None, _shadow_decisions(0.52), 0)
    payload = _health(watch)
    pushed = dashboard.render_topic("health", payload, can_control=False)[0]
    pushed = pushed[pushed.index('<div id="ml-gate-panel"') :]
    push.forget_latest_payloads()
    async_to_sync(push.Publisher(min_interval_s=0).publish)("health", payload)
    try:
        page = Client().get("/").content.decode()
    finally:
        push.forget_latest_payloads()
    start = page.index('<div id="ml-gate-panel"')
    assert page[start : start + len(pushed)].strip() == pushed.strip()
