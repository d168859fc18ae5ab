"""The weekly retrain's promotion gate (domain.md §7.3): each refusal path, the atomic swap
and its log; the beat schedule; the shadow → gating evidence through the operator's
override paths (API and admin), refused and audited without it; the readiness notice."""

from __future__ import annotations

import random
import time

import pytest
from django.contrib.auth import get_user_model
from knox.models import AuthToken
from rest_framework.test import APIClient

from kbtc_site.schedules import jobs
from mlgate.models import ModelVersion, PromotionLog, ReadinessNotice, TradeFeatures
from mlgate.promotion import (
    PROMOTION_LOG_KEEP,
    PROMOTION_MIN_ROWS,
    compare,
    promote,
    promotion_refusal,
    retrain,
    shadow_evidence,
)
from mlgate.services import load_predictor, readiness_check, save_model
from mlgate.tasks import check_ml_ready, retrain_gate
from mlgate.tests.test_training import synthetic
from mlgate.training import MIN_PRECISION, Row, train
from trading.engine.features import FEATURE_NAMES
from trading.models import ControlAudit, ParamOverride
from trading.services import controls
from trading.tests.factories import operator
from trading.tests.notifications.conftest import eager, server, webhooks  # noqa: F401

pytestmark = pytest.mark.django_db

ACTOR = controls.Actor(label="operator", source="api")


def bearer() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(operator())[1]}")
    return client


@pytest.fixture(scope="module")
def good():
    """A model with signal (obi decides), above the floor, on 300 rows."""
    result = train(synthetic(300))
    assert result.metrics["oos_precision"] >= MIN_PRECISION
    return result


@pytest.fixture(scope="module")
def noise():
    """A model of labels that are coin flips: below the floor."""
    rng = random.Random(7)
    rows = [
        Row(1_735_689_600_000 + i * 60_000, {n: rng.random() for n in FEATURE_NAMES},
            1 if rng.random() < 0.3 else -1)
        for i in range(300)
    ]  # fmt: skip
    result = train(rows)
    assert result.metrics["oos_precision"] < MIN_PRECISION
    return result


def _promoted(result) -> ModelVersion:
    candidate = promote(result, source="paper").candidate
    assert candidate is not None
    return candidate


def test_a_first_model_above_the_floor_is_promoted_and_logged(good):
    entry = promote(good, source="paper")
    assert entry.promoted
    assert entry.reason == "promoted"
    assert entry.incumbent is None
    assert ModelVersion.objects.get(active=True) == entry.candidate
    assert entry.details["oos_precision"] == good.metrics["oos_precision"]


def test_a_model_below_the_floor_is_stored_but_not_promoted(good, noise):
    incumbent = _promoted(good)
    entry = promote(noise, source="backtest")
    assert not entry.promoted
    assert "below the floor 0.58" in entry.reason
    assert entry.candidate is not None
    assert not entry.candidate.active
    assert ModelVersion.objects.get(active=True) == incumbent
    assert entry.incumbent == incumbent


def test_a_model_worse_than_the_incumbent_by_more_than_a_tenth_is_refused(good):
    incumbent = _promoted(good)
    ModelVersion.objects.filter(pk=incumbent.pk).update(
        metrics={**incumbent.metrics, "oos_precision": good.metrics["oos_precision"] + 0.11}
    )
    entry = promote(good, source="backtest")
    assert not entry.promoted
    assert "below the incumbent's" in entry.reason
    assert ModelVersion.objects.get(active=True).pk == incumbent.pk


def test_a_same_source_model_on_fewer_rows_is_refused_another_source_is_not(good):
    incumbent = _promoted(good)
    ModelVersion.objects.filter(pk=incumbent.pk).update(rows=round(good.rows / 0.94))
    entry = promote(good, source="paper")
    assert not entry.promoted
    assert "fewer than 95% of the incumbent's" in entry.reason
    entry = promote(good, source="backtest")  # the rows rule weighs like against like only
    assert entry.promoted
    assert set(ModelVersion.objects.filter(active=True)) == {entry.candidate}
    incumbent.refresh_from_db()
    assert not incumbent.active  # archived: retired, its row kept


def test_too_few_rows_are_refused_before_training(good):
    small = train(synthetic(150))
    assert promotion_refusal(small, source="paper", incumbent=None) == (
        f"150 rows: promotion needs {PROMOTION_MIN_ROWS}"
    )
    for row in synthetic(50):
        TradeFeatures.objects.create(
            position_uid=f"p{row.ts}", lane="paper", source="paper", entry_ts_ms=row.ts,
            features=dict(row.features), label=row.label,
        )  # fmt: skip
    entry = retrain(source="paper")
    assert not entry.promoted
    assert entry.reason == f"50 labelled paper rows: promotion needs {PROMOTION_MIN_ROWS}"
    assert entry.candidate is None
    assert not ModelVersion.objects.exists()


def test_the_beat_task_trains_on_the_daemons_rows_and_promotes(eager):  # noqa: F811
    for row in synthetic(300):
        TradeFeatures.objects.create(
            position_uid=f"p{row.ts}", lane="paper", source="paper", entry_ts_ms=row.ts,
            features=dict(row.features), label=row.label,
        )  # fmt: skip
    outcome = retrain_gate.delay().get()
    assert outcome["promoted"] is True
    version = ModelVersion.objects.get(active=True)
    assert (outcome["candidate"], version.rows, version.source) == (version.pk, 300, "paper")
    entry = PromotionLog.objects.get()
    assert entry.actor == "beat"
    # a second run on the same rows: same rows, same precision → promoted again, swapped
    assert retrain_gate.delay().get()["promoted"] is True
    assert ModelVersion.objects.filter(active=True).count() == 1
    assert ModelVersion.objects.get(active=True).pk != version.pk


def test_the_weekly_retrain_and_readiness_check_are_beat_jobs():
    by_task = {job.task: job for job in jobs()}
    assert by_task["mlgate.retrain_gate"].crontab == "0 4 * * 0"  # Sunday 04:00 UTC (§7.3)
    assert by_task["mlgate.check_ml_ready"].every_s == 3600


def test_the_promotion_log_keeps_the_newest_fifty(noise):
    for _ in range(PROMOTION_LOG_KEEP + 3):
        promote(noise, source="paper")
    assert PromotionLog.objects.count() == PROMOTION_LOG_KEEP
    assert not PromotionLog.objects.filter(promoted=True).exists()


# --- shadow → gating --------------------------------------------------------------------


def _shadowed(n: int, *, informative: bool, after_ms: int) -> None:
    """The daemon's labelled trades after the model: won iff obi is high (informative), or
    coin flips."""
    rng = random.Random(11)
    for i in range(n):
        f = {name: rng.random() for name in FEATURE_NAMES}
        won = f["obi"] > 0.5 if informative else rng.random() < 0.5
        TradeFeatures.objects.create(
            position_uid=f"s{i}", lane="paper", source="paper", entry_ts_ms=after_ms + i * 60_000,
            features=f, label=1 if won else -1, pnl=500_000 if won else -400_000,
        )  # fmt: skip


def _now_ms() -> int:
    return int(time.time() * 1000) + 60_000


def test_gating_is_refused_and_audited_without_an_active_model():
    with pytest.raises(controls.OverrideInvalid, match="gating refused: no active model"):
        controls.override_set(name="ml_gate_mode", value="gate", actor=ACTOR)
    assert not ParamOverride.objects.exists()
    audit = ControlAudit.objects.get()
    assert (audit.action, audit.applied) == ("override_set", False)
    assert "no active model" in audit.message
    # shadow needs no evidence
    controls.override_set(name="ml_gate_mode", value="shadow", actor=ACTOR)
    assert ParamOverride.objects.get().value == "shadow"


def test_gating_needs_enough_shadowed_trades_and_a_five_point_lift(good):
    save_model(good, source="paper", lanes=[], activate=True)
    _shadowed(50, informative=True, after_ms=_now_ms())
    comparison, reason = shadow_evidence()
    assert comparison is not None
    assert comparison.trades == 50
    assert "50 shadowed trades since model" in reason
    TradeFeatures.objects.all().delete()
    _shadowed(400, informative=False, after_ms=_now_ms())
    comparison, reason = shadow_evidence()
    assert comparison is not None
    assert comparison.trades == 400
    assert "gating needs +5 pp" in reason
    with pytest.raises(controls.OverrideInvalid, match="gating needs \\+5 pp"):
        controls.override_set(name="ml_gate_mode", value="gate", actor=ACTOR)


def test_rows_before_the_model_are_not_shadow_evidence(good):
    save_model(good, source="paper", lanes=[], activate=True)
    _shadowed(400, informative=True, after_ms=_now_ms() - 86_400_000)  # a day before
    comparison, reason = shadow_evidence()
    assert comparison is not None
    assert comparison.trades == 0
    assert "0 shadowed trades" in reason


def test_with_the_evidence_the_api_switches_to_gating_audited(good):
    save_model(good, source="paper", lanes=[], activate=True)
    _shadowed(400, informative=True, after_ms=_now_ms())
    comparison, reason = shadow_evidence()
    assert reason == ""
    assert comparison is not None
    assert comparison.lift_pp >= 5
    client = bearer()
    response = client.post(
        "/api/param-overrides", {"name": "ml_gate_mode", "value": "gate"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert ParamOverride.objects.get(name="ml_gate_mode").value == "gate"
    audit = ControlAudit.objects.get()
    assert (audit.action, audit.applied, audit.actor_label) == ("override_set", True, "operator")


def test_the_api_refuses_gating_without_the_evidence():
    client = bearer()
    response = client.post(
        "/api/param-overrides", {"name": "ml_gate_mode", "value": "gate"}, format="json"
    )
    assert response.status_code == 400
    assert "gating refused: no active model" in response.json()["error"]
    assert not ParamOverride.objects.exists()
    assert ControlAudit.objects.get().applied is False


def test_the_admin_action_switches_only_with_the_evidence(client, good):
    admin_user = get_user_model().objects.create_superuser("admin", password="x")
    client.force_login(admin_user)
    version = save_model(good, source="paper", lanes=[], activate=True)
    post = {"action": "switch_to_gating", "_selected_action": [version.pk]}
    response = client.post("/admin/mlgate/modelversion/", post, follow=True)
    assert "Gating refused" in response.content.decode()
    assert not ParamOverride.objects.exists()
    _shadowed(400, informative=True, after_ms=_now_ms())
    response = client.post("/admin/mlgate/modelversion/", post, follow=True)
    assert "Lanes switched to gating (audited)" in response.content.decode()
    assert ParamOverride.objects.get(name="ml_gate_mode").value == "gate"
    assert [a.applied for a in ControlAudit.objects.order_by("id")] == [False, True]
    assert ControlAudit.objects.order_by("-id")[0].message.startswith("shadow: gate")


def test_compare_counts_what_the_gate_lets_through(good):
    version = save_model(good, source="paper", lanes=[], activate=True)
    predictor, _ = load_predictor(version)
    assert predictor is not None
    _shadowed(200, informative=True, after_ms=_now_ms())
    result = compare(TradeFeatures.objects.all(), predictor)
    passed = [
        r for r in TradeFeatures.objects.all() if predictor.p_win(r.features) >= predictor.threshold
    ]
    assert result.trades == 200
    assert result.passed == len(passed)
    assert result.passed_wins == sum(r.label == 1 for r in passed)
    assert result.passed_pnl == sum(r.pnl or 0 for r in passed)


# --- the readiness notice -----------------------------------------------------------------


def test_readiness_is_notified_once_at_500_labelled_paper_rows(webhooks, eager):  # noqa: F811
    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            TradeFeatures.objects.create(
                position_uid=f"r{i}", lane="paper", source="paper", entry_ts_ms=i,
                features={}, label=1 if i % 3 == 0 else -1, mfe=0.1, mae=-0.1,
            )  # fmt: skip

    add(499, 0)
    TradeFeatures.objects.create(  # no MFE: not counted
        position_uid="nomfe", lane="paper", source="paper", entry_ts_ms=1, features={}, label=1
    )
    assert check_ml_ready.delay().get() is False
    add(1, 499)
    assert check_ml_ready.delay().get() is True
    [post] = webhooks.wait_for(1)
    assert post.title == "[PAPER] ML data ready"
    assert post.field("Rows") == "500"
    assert "win rate 33.4%" in post.embed["description"]
    add(10, 500)
    assert readiness_check() is False  # sent once
    assert ReadinessNotice.objects.get().rows == 500


def test_readiness_with_the_channel_off_is_not_marked_sent(settings, server):  # noqa: F811
    settings.KBTC = {**settings.KBTC, "DISCORD_WEBHOOKS": {}}
    for i in range(500):
        TradeFeatures.objects.create(
            position_uid=f"r{i}", lane="paper", source="paper", entry_ts_ms=i,
            features={}, label=1, mfe=0.1, mae=-0.1,
        )  # fmt: skip
    assert readiness_check() is False
    assert not ReadinessNotice.objects.exists()
    assert server.posts == []
