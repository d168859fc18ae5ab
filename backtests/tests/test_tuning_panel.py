"""The dashboard's Tuning panel and the studies API: a running study's bar (done/total,
best so far, ETA, polled while it runs), the newest recommendation with its evidence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from backtests.models import (
    RunStatus,
    StudyStatus,
    TuningRecommendation,
    WalkForwardStudy,
    WalkForwardTask,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client, settings):
    settings.ANONYMOUS_READS = True
    return client


def running_study() -> WalkForwardStudy:
    study = WalkForwardStudy.objects.create(
        optuna_name="panel-test",
        status=StudyStatus.RUNNING,
        request={"spans": 1},
        trials_total=4,
        trials_done=2,
        best={"trial": 1, "train_score": 1.25, "values": {"stop_loss_frac": 0.02}},
        started_at=timezone.now() - timedelta(seconds=100),
        heartbeat_at=timezone.now(),
    )
    now = timezone.now()
    for batch, status in ((0, RunStatus.DONE), (1, RunStatus.RUNNING)):
        WalkForwardTask.objects.create(
            study=study, batch=batch, group="{}", span=0, span_start=now, span_end=now,
            sets=[{"trial": 2 * batch, "values": {}}, {"trial": 2 * batch + 1, "values": {}}],
            status=status, progress=1.0 if status == RunStatus.DONE else 0.5,
        )  # fmt: skip
    return study


def test_the_panel_shows_a_running_studys_bar_and_polls(reader):
    study = running_study()
    html = reader.get("/backtests/tuning-panel").content.decode()
    assert f'data-study="{study.pk}"' in html
    assert "75%" in html  # one task done, the other half way: 3 of 4 set-spans
    assert "trials 2/4" in html
    assert "best train score 1.25" in html
    assert "ETA" in html
    assert "hx-trigger" in html
    assert "stalled" not in html


def test_a_study_whose_coordinator_died_shows_as_stalled_with_how_to_resume(reader):
    study = running_study()
    old = timezone.now() - timedelta(minutes=5)
    WalkForwardStudy.objects.filter(pk=study.pk).update(heartbeat_at=old)
    html = reader.get("/backtests/tuning-panel").content.decode()
    assert "stalled" in html
    assert f"manage.py walk_forward --resume {study.pk}" in html
    assert "ETA" not in html
    # a task still beating (a worker at work, or an eager pass) is a sign of life
    WalkForwardTask.objects.filter(study=study, status=RunStatus.RUNNING).update(
        heartbeat_at=timezone.now()
    )
    assert "stalled" not in reader.get("/backtests/tuning-panel").content.decode()


def test_the_panel_shows_the_newest_recommendation_and_how_to_apply_it(reader):
    rec = TuningRecommendation.objects.create(
        current={"stop_loss_frac": 0.02},
        proposed={"stop_loss_frac": 0.03},
        changes={"stop_loss_frac": 0.025},
        should_apply=False,
        reasons=["edge consistency 0.40 < 0.5"],
        evidence={"diagnosis": {"avg_test_sharpe": 0.3}, "trials_evaluated": 30},
    )
    html = reader.get("/backtests/tuning-panel").content.decode()
    assert f'data-recommendation="{rec.pk}"' in html
    assert "do not apply" in html
    assert "edge consistency 0.40 &lt; 0.5" in html
    assert "stop_loss_frac" in html
    assert "hx-trigger" not in html  # nothing running: quiet


def test_the_api_lists_studies_with_their_progress(reader):
    study = running_study()
    body = reader.get("/api/walkforward/studies").json()
    rows = body["results"] if isinstance(body, dict) else body
    assert rows[0]["id"] == study.pk
    progress = rows[0]["progress"]
    assert progress["fraction"] == 0.75
    assert (progress["tasks_done"], progress["tasks_total"]) == (1, 2)
    assert progress["best"]["train_score"] == 1.25
    assert progress["eta_s"] > 0
    detail = reader.get(f"/api/walkforward/studies/{study.pk}").json()
    assert detail["status"] == "running"
    assert reader.get("/api/walkforward/studies/999999").status_code == 404


def test_the_dashboard_loads_the_tuning_panel(reader):
    assert 'id="tuning-panel"' in reader.get("/").content.decode()
