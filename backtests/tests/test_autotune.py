"""The auto-tuner (domain.md §4.5): safety rules and clamps (pure), a cycle storing its
recommendation (never applying it), the schedule, and an operator's apply from the admin
and the API with its audit rows."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from backtests import autotune
from backtests.autotune import MAX_SHIFT, ApplyRefused, clamp, safety
from backtests.models import RecommendationStatus, TuningRecommendation, WalkForwardStudy
from backtests.tests.helpers import SEED, START, synthetic_bars, write_klines
from kbtc_site.schedules import jobs
from trading.models import ControlAudit, ParamOverride
from trading.services.controls import Actor

CURRENT = {
    "risk_per_trade_frac": 0.02,
    "stop_loss_frac": 0.02,
    "obi_long_threshold": 0.65,
    "obi_short_threshold": 0.35,
    "roc_lookback": 3,
}
GOOD = {"edge_consistency": 0.6, "avg_test_sharpe": 1.2}


def test_clamps_limit_each_change_to_its_largest_shift():
    assert MAX_SHIFT["obi_long_threshold"] == 0.05
    assert clamp("obi_long_threshold", 0.65, 0.75) == 0.70
    assert clamp("obi_long_threshold", 0.65, 0.625) == 0.625
    assert clamp("roc_lookback", 3, 5) == 4
    assert clamp("roc_lookback", 3, 1) == 2
    assert clamp("risk_per_trade_frac", 0.02, 0.03) == 0.025
    assert clamp("stop_loss_frac", 0.02, 0.01) == 0.015
    assert clamp("profit_target_mult", 1.5, 2.5) == 1.75
    assert clamp("roc_short_threshold", -0.4, -0.1) == pytest.approx(-0.3)
    assert clamp("reentry_cooldown_s", 30, 300) == 300  # not one of §4.5's: unclamped


def test_safety_rules_in_the_originals_order():
    none = safety(CURRENT, dict(CURRENT), GOOD)
    assert not none.should_apply
    assert none.reasons == ["no changes: the walk-forward keeps the current values"]
    proposed = {**CURRENT, "obi_long_threshold": 0.75, "roc_lookback": 5}
    inconsistent = safety(CURRENT, proposed, {**GOOD, "edge_consistency": 0.49})
    assert not inconsistent.should_apply
    assert inconsistent.reasons == ["edge consistency 0.49 < 0.5"]
    weak = safety(CURRENT, proposed, {**GOOD, "avg_test_sharpe": 0.79})
    assert not weak.should_apply
    assert weak.reasons == ["average out-of-sample Sharpe 0.79 < 0.8"]
    good = safety(CURRENT, proposed, GOOD)
    assert good.should_apply
    assert good.changes == {"obi_long_threshold": 0.70, "roc_lookback": 4}
    # a parameter the walk-forward did not search is no change
    assert safety(CURRENT, {"luck": 1}, GOOD).changes == {}


def test_the_tuner_runs_every_six_hours_from_beat():
    tuner = next(job for job in jobs() if job.task == "backtests.auto_tune")
    assert tuner.every_s == 6 * 3600


def test_lowering_priority_never_raises_it():
    import os

    before = os.nice(0)
    # a child process: niceness cannot be lowered again in this one
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = autotune.lower_priority(before + 3) == before + 3 and autotune.lower_priority(0) == (
            before + 3
        )
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_cycle_stores_a_recommendation_and_applies_nothing(tmp_path, settings):
    days = autotune.TRAIN_DAYS + autotune.TEST_DAYS + 2 * autotune.STEP_DAYS
    bars = synthetic_bars(SEED, START - 7 * 86_400_000, (days + 8) * 1440)
    settings.KBTC = {**settings.KBTC, "HISTORY": str(write_klines(tmp_path / "k.csv", bars))}
    # budget 0: no batch is asked, the study ends at once with nothing to recommend
    message = autotune.auto_tune(budget_s=0)
    rec = TuningRecommendation.objects.get()
    assert message == f"recommendation {rec.pk}: do not apply"
    assert not rec.should_apply
    assert rec.changes == {}
    assert rec.status == RecommendationStatus.PENDING
    assert rec.evidence["budget_hit"] is True
    assert rec.evidence["data"]["source"] == "history"
    assert rec.evidence["data"]["history"] == settings.KBTC["HISTORY"]
    study = WalkForwardStudy.objects.get()
    assert (study.kind, study.requested_by) == ("tune", "auto-tuner")
    assert study.request["space"] == "tuner"
    assert study.request["end_ts"] - study.request["start_ts"] == days * 86_400_000
    assert not ParamOverride.objects.exists()


def recommendation(changes: dict[str, object]) -> TuningRecommendation:
    return TuningRecommendation.objects.create(
        current=CURRENT,
        proposed={**CURRENT, **changes},
        changes=changes,
        should_apply=True,
        reasons=["passes"],
        evidence={"diagnosis": GOOD},
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_operator_applies_a_recommendation_from_the_admin_audited():
    user = get_user_model().objects.create_user("op", password="x" * 12, is_staff=True,
                                                is_superuser=True)  # fmt: skip
    client = Client()
    client.force_login(user)
    rec = recommendation({"stop_loss_frac": 0.025, "obi_long_threshold": 0.7})
    response = client.post(
        reverse("admin:backtests_tuningrecommendation_changelist"),
        {"action": "apply_global", "_selected_action": [rec.pk]},
    )
    assert response.status_code == 302
    rec.refresh_from_db()
    assert rec.status == RecommendationStatus.APPLIED
    assert rec.applied_to == [""]
    assert rec.applied_by == "op"
    stored = {o.name: o.value for o in ParamOverride.objects.all()}
    assert stored == {"stop_loss_frac": 0.025, "obi_long_threshold": 0.7}
    audit = ControlAudit.objects.get(action="tuning_apply")
    assert audit.applied
    assert audit.actor_label == "op"
    assert audit.source == "admin"
    assert audit.after["values"] == {"stop_loss_frac": 0.025, "obi_long_threshold": 0.7}
    assert ControlAudit.objects.filter(action="override_set", applied=True).count() == 2
    # applied twice to the same lane: refused, and audited as such
    with pytest.raises(ApplyRefused, match="already applied"):
        autotune.recommendation_apply(rec=rec, lane="", actor=Actor.from_user(user, source="api"))
    refused = ControlAudit.objects.filter(action="tuning_apply", applied=False).get()
    assert "already applied" in refused.message


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_api_refuses_a_recommendation_without_changes_and_lists_them():
    user = get_user_model().objects.create_user("op", password="x" * 12, is_staff=True)
    client = Client()
    client.force_login(user)
    rec = recommendation({})
    response = client.post(
        f"/api/tuning/recommendations/{rec.pk}/apply", {"lane": ""}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "no changes" in response.json()["message"]
    assert ControlAudit.objects.get(action="tuning_apply").applied is False
    listed = client.get("/api/tuning/recommendations").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [r["id"] for r in rows] == [rec.pk]
    assert not ParamOverride.objects.exists()


@pytest.mark.django_db
def test_the_tuner_takes_the_archives_newest_unbroken_days_when_the_journal_is_short(
    tmp_path, settings
):
    import datetime as dt

    from marketdata.archive.store import day_path

    settings.KBTC = {**settings.KBTC, "DATA_DIR": tmp_path, "HISTORY": None}
    days = autotune.TRAIN_DAYS + autotune.TEST_DAYS + 2 * autotune.STEP_DAYS
    newest = dt.date(2026, 3, 1)
    for k in range(days):
        path = day_path(tmp_path / "archive", "journal", newest - dt.timedelta(days=k))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    period = autotune.tuning_period(START + 400 * 86_400_000)
    end = int(dt.datetime(2026, 3, 2, tzinfo=dt.UTC).timestamp() * 1000)
    start = end - days * 86_400_000
    root = str(tmp_path / "archive")
    assert period == {"source": "archive", "archive_dir": root, "stream": "journal",
                      "start_ts": start, "end_ts": end}  # fmt: skip
    # a hole in those days: no archive period, and no history either
    day_path(tmp_path / "archive", "journal", newest - dt.timedelta(days=3)).unlink()
    assert autotune.tuning_period(START) == "no journal covering the period and no 1-minute history"
