"""Parameter overrides that target a lane (interfaces.md §5): precedence, refusals and
their audit rows, the tuner's all-or-nothing ``lane_overrides_apply``, and the migration
that made every existing override global."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from trading import selectors
from trading.engine.params import DEFAULT_PARAMS
from trading.models import ControlAudit, ParamOverride, TradingControls
from trading.services import controls
from trading.tests import factories

pytestmark = pytest.mark.django_db

ROBOT = controls.Actor(label="tester", source="test")


@pytest.fixture
def two_lanes() -> None:
    """A trader that has run a paper and a live lane (each has its saved state)."""
    factories.lane_state("paper")
    factories.lane_state("live")


def refusals() -> list[ControlAudit]:
    return list(ControlAudit.objects.filter(applied=False).order_by("id"))


def test_a_lane_decides_on_the_defaults_then_the_global_overrides_then_its_own(two_lanes):
    controls.override_set(name="min_hold_s", value=90, actor=ROBOT)
    controls.override_set(name="reentry_cooldown_s", value=60, actor=ROBOT)
    controls.override_set(name="min_hold_s", value=200, lane="live", actor=ROBOT)

    current = selectors.controls_current()
    assert current.overrides == {"min_hold_s": 90, "reentry_cooldown_s": 60}
    assert current.lane_overrides == {"live": {"min_hold_s": 200}}
    paper, live = current.params(lane="paper"), current.params(lane="live")
    assert (paper.min_hold_s, paper.reentry_cooldown_s) == (90, 60)
    assert (live.min_hold_s, live.reentry_cooldown_s) == (200, 60)  # its own wins; global rest
    assert current.params().min_hold_s == 90  # the global set
    assert paper.stop_loss_frac == live.stop_loss_frac == DEFAULT_PARAMS.stop_loss_frac

    # one row per parameter and lane, each with who set it and when
    rows = ParamOverride.objects.order_by("name", "lane").values_list("name", "lane", "value")
    assert list(rows) == [
        ("min_hold_s", "", 90),
        ("min_hold_s", "live", 200),
        ("reentry_cooldown_s", "", 60),
    ]
    assert {row.set_by_label for row in ParamOverride.objects.all()} == {"tester"}

    # the listing for a lane says where each value comes from
    listed = {row["name"]: row for row in selectors.overrides_list("live")}
    assert (listed["min_hold_s"]["value"], listed["min_hold_s"]["origin"]) == (200, "lane")
    assert listed["reentry_cooldown_s"]["origin"] == "global"
    assert listed["stop_loss_frac"]["origin"] == "default"


def test_each_override_write_is_audited_with_its_lane_and_bumps_the_version(two_lanes):
    controls.override_set(name="min_hold_s", value=90, lane="paper", actor=ROBOT, note="why")
    audit = ControlAudit.objects.get()
    assert (audit.action, audit.applied, audit.message) == ("override_set", True, "why")
    assert audit.before == {"name": "min_hold_s", "value": None, "lane": "paper"}
    assert audit.after == {"name": "min_hold_s", "value": 90, "lane": "paper"}
    assert TradingControls.objects.get().version == 1


def test_a_lane_that_does_not_exist_is_refused_and_audited(two_lanes):
    with pytest.raises(controls.OverrideInvalid, match=r"lane 'nope' does not exist.*live, paper"):
        controls.override_set(name="min_hold_s", value=90, lane="nope", actor=ROBOT)
    assert not ParamOverride.objects.exists()
    [refused] = refusals()
    assert refused.action == "override_set"
    assert refused.before == {"name": "min_hold_s", "value": 90, "lane": "nope"}
    assert "does not exist" in refused.message


def test_the_live_lane_is_refused_until_the_trader_has_run_it():
    factories.lane_state("paper")
    assert controls.override_lanes() == ["paper"]
    with pytest.raises(controls.OverrideInvalid, match="live lane does not exist yet"):
        controls.override_set(name="min_hold_s", value=90, lane="live", actor=ROBOT)
    assert len(refusals()) == 1


def test_a_market_parameter_is_only_global_and_says_it_applies_at_the_next_start(two_lanes):
    with pytest.raises(controls.OverrideInvalid, match=r"obi_history_len.*next start"):
        controls.override_set(name="obi_history_len", value=5, lane="paper", actor=ROBOT)
    assert not ParamOverride.objects.exists()
    assert refusals()[0].before["lane"] == "paper"
    controls.override_set(name="obi_history_len", value=5, actor=ROBOT)  # global: accepted
    [row] = selectors.overrides_rows()
    assert (row["lane"], row["scope"], row["applies"]) == ("", "market", "at the next restart")


def test_a_lane_value_out_of_bounds_is_refused_with_the_bounds(two_lanes):
    with pytest.raises(controls.OverrideInvalid, match=r"min_hold_s.*0 and 3600"):
        controls.override_set(name="min_hold_s", value=99999, lane="paper", actor=ROBOT)
    assert not ParamOverride.objects.exists()
    assert len(refusals()) == 1


def test_a_lane_value_is_checked_against_the_global_ones_it_combines_with(two_lanes):
    controls.override_set(name="min_risk_frac", value=0.01, actor=ROBOT)
    # 0.008 is inside max_risk_frac's bounds but below the global min_risk_frac
    with pytest.raises(controls.OverrideInvalid, match="min_risk_frac: must not exceed"):
        controls.override_set(name="max_risk_frac", value=0.008, lane="live", actor=ROBOT)
    controls.override_set(name="max_risk_frac", value=0.02, lane="live", actor=ROBOT)
    # and a global change is checked against each lane's own: it would break the live lane
    with pytest.raises(controls.OverrideInvalid, match="for lane live"):
        controls.override_set(name="min_risk_frac", value=0.025, actor=ROBOT)
    assert selectors.controls_current().overrides == {"min_risk_frac": 0.01}


def test_clearing_targets_the_global_row_one_lane_or_everything(two_lanes):
    controls.override_set(name="min_hold_s", value=90, actor=ROBOT)
    controls.override_set(name="min_hold_s", value=200, lane="live", actor=ROBOT)
    controls.override_set(name="reentry_cooldown_s", value=60, lane="live", actor=ROBOT)

    assert controls.override_clear(name="min_hold_s", lane="", actor=ROBOT) == 1
    assert selectors.controls_current().params(lane="live").min_hold_s == 200
    assert controls.override_clear(name=None, lane="live", actor=ROBOT) == 2
    assert not ParamOverride.objects.exists()
    audits = ControlAudit.objects.filter(action="override_clear").order_by("id")
    assert audits[0].before == {"min_hold_s": 90}
    assert audits[1].before == {"min_hold_s@live": 200, "reentry_cooldown_s@live": 60}
    assert audits[1].message == "cleared 2 (lane live)"

    controls.override_set(name="min_hold_s", value=90, actor=ROBOT)
    controls.override_set(name="min_hold_s", value=200, lane="paper", actor=ROBOT)
    assert controls.override_clear(name=None, actor=ROBOT) == 2  # every lane and global


def test_lane_overrides_apply_writes_a_whole_recommendation_with_an_audit_row_each(two_lanes):
    values = {"min_hold_s": 150, "stop_loss_frac": 0.03, "reentry_cooldown_s": 45}
    stored = controls.lane_overrides_apply(lane="paper", values=values, actor=ROBOT, note="tuner")
    assert {row.name: row.value for row in stored} == values
    assert {row.lane for row in stored} == {"paper"}
    audits = ControlAudit.objects.order_by("id")
    assert [(a.action, a.applied, a.after["name"]) for a in audits] == [
        ("override_set", True, name) for name in values
    ]
    assert {a.message for a in audits} == {"tuner"}
    assert TradingControls.objects.get().version == 1  # one change for the daemon
    paper = selectors.controls_current().params(lane="paper")
    assert (paper.min_hold_s, paper.stop_loss_frac, paper.reentry_cooldown_s) == (150, 0.03, 45)
    assert selectors.controls_current().params(lane="live") == DEFAULT_PARAMS


@pytest.mark.parametrize(
    ("lane", "values", "reason"),
    [
        ("paper", {"min_hold_s": 150, "stop_loss_frac": 7.0}, "stop_loss_frac"),
        ("paper", {"min_hold_s": 150, "atr_period": 10}, "market parameter"),
        ("gone", {"min_hold_s": 150}, "does not exist"),
        ("paper", {"min_hold_s": 150, "no_such_thing": 1}, "unknown parameter"),
        ("paper", {}, "no parameter values"),
    ],
)
def test_lane_overrides_apply_writes_nothing_when_one_value_is_refused(
    two_lanes, lane, values, reason
):
    controls.override_set(name="min_hold_s", value=90, lane="paper", actor=ROBOT)
    with pytest.raises(controls.OverrideInvalid, match=reason):
        controls.lane_overrides_apply(lane=lane, values=values, actor=ROBOT, note="tuner")
    assert list(ParamOverride.objects.values_list("name", "lane", "value")) == [
        ("min_hold_s", "paper", 90)
    ]
    if values:  # a refusal is audited with every value asked for
        [refused] = refusals()
        assert refused.before == {"lane": lane, "values": values}
        assert reason in refused.message


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_every_existing_override_as_a_global_one():
    executor = MigrationExecutor(connection)
    before, after = (
        [("trading", "0003_decision_size_mult")],
        [("trading", "0004_param_override_lane")],
    )
    executor.migrate(before)
    old = MigrationExecutor(connection).loader.project_state(before).apps
    old.get_model("trading", "ParamOverride").objects.create(
        name="min_hold_s", value=90, set_by_label="operator", set_at=timezone.now()
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    row = ParamOverride.objects.get()
    assert (row.name, row.lane, row.value, row.set_by_label) == ("min_hold_s", "", 90, "operator")
    assert selectors.controls_current().overrides == {"min_hold_s": 90}
