"""A small walk-forward study fanned out on two REAL Celery worker processes (this Redis
database, the test database) gives the result of the same study run in process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from django.db import connection

from backtests.models import StudyStatus
from backtests.study import celery_dispatch, run_study, study_create
from backtests.tests.helpers import kline_file
from backtests.tests.test_study import tiny_request
from kbtc_site.celery import app as celery_app
from kbtc_site.celery_workers import celery_workers, database_url, start_worker

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

TWO_GROUPS = {
    "name": "two-groups",
    "dimensions": {"stop_loss_frac": [0.02, 0.05], "roc_lookback": [2, 3]},
}


@pytest.fixture
def two_workers(transactional_db: None) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict)}
    with celery_workers(2, prefix="wf", env=env) as workers:
        yield workers


def test_a_study_on_two_workers_equals_the_same_study_in_process(two_workers, tmp_path):
    klines = kline_file(tmp_path)
    request = tiny_request(klines, space=TWO_GROUPS, batch_size=4)
    fanned = run_study(study_create(request).pk, dispatch=celery_dispatch)
    assert fanned.status == StudyStatus.DONE
    tasks = list(fanned.tasks.all())
    assert len(tasks) == 2  # one per ROC look-back (a market parameter): two passes
    assert {t.group for t in tasks} == {'{"roc_lookback": 2}', '{"roc_lookback": 3}'}
    eager = run_study(study_create(request).pk)
    assert fanned.result["windows"] == eager.result["windows"]
    assert fanned.result["final_params"] == eager.result["final_params"]
    assert fanned.result["recommendation"] == eager.result["recommendation"]
    assert fanned.best == eager.best
    assert {t.data_sha256 for t in tasks} == {t.data_sha256 for t in eager.tasks.all()}


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_task_loses_nothing_another_runs_it_again(tmp_path):
    from backtests.models import RunStatus, WalkForwardTask

    celery_app.control.purge()  # tasks an earlier run left in this Redis database
    klines = kline_file(tmp_path, hours_after=26)
    request = tiny_request(
        klines, end_ts=tiny_request(klines).start_ts + 24 * 3_600_000,
        space={"name": "one", "dimensions": {"stop_loss_frac": [0.02]}},
    )  # fmt: skip
    study = study_create(request)
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict)}
    first = start_worker("doomed", env=env)
    coordinator = subprocess.Popen(
        [sys.executable, "manage.py", "walk_forward", "--resume", str(study.pk), "--workers",
         "--no-progress"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    second = None
    try:
        deadline = time.monotonic() + 300
        while not WalkForwardTask.objects.filter(study=study, progress__gt=0).exists():
            assert time.monotonic() < deadline, "the task made no progress in 300 s"
            time.sleep(0.2)
        first.kill()  # SIGKILL mid-task: its row says running, its heartbeat stops
        first.wait()
        second = start_worker("survivor", env=env)
        assert coordinator.wait(timeout=600) == 0
    finally:
        for process in (first, second, coordinator):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    task = WalkForwardTask.objects.get(study=study)
    assert (task.status, task.attempts, task.progress) == (RunStatus.DONE, 2, 1.0)
    study.refresh_from_db()
    assert study.status == StudyStatus.DONE
    assert study.result["trials_evaluated"] == 1
