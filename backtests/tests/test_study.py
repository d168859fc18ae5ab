"""Walk-forward studies (``backtests.study``) on seed 7's synthetic path with simulated
books: search spaces against the parameter bounds, a small study in process, a failed task
retried then reported, and a coordinator killed half-way resumed without redoing work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from django.db import connection

from backtests import search
from backtests.models import RunStatus, StudyStatus, WalkForwardStudy, WalkForwardTask
from backtests.study import (
    StudyError,
    StudyRequest,
    progress_of,
    run_study,
    study_create,
    task_execute,
)
from backtests.tests.helpers import SEED, START, kline_file, synthetic_bars, write_klines

HOUR = 3_600_000
DAY = 24 * HOUR
TINY = {
    "name": "tiny",
    "dimensions": {"stop_loss_frac": [0.02, 0.05], "obi_long_threshold": [0.6, 0.65]},
}


def tiny_request(klines: Path, **changes: object) -> StudyRequest:
    """6 hours: windows of 2 h train / 1 h test / 1 h step (4 windows), every set kept."""
    options: dict[str, object] = {
        "start_ts": START,
        "end_ts": START + 6 * HOUR,
        "train_days": 2 / 24,
        "test_days": 1 / 24,
        "step_days": 1 / 24,
        "space": TINY,
        "sampler": "grid",
        "batch_size": 2,
        "min_trades": 1,
        "history": str(klines),
        "sim_seed": SEED,
    }
    options.update(changes)
    return StudyRequest(**options)  # type: ignore[arg-type]


# --- spaces (no database) ------------------------------------------------------------------


def test_presets_have_the_originals_sizes_and_respect_the_bounds():
    assert search.preset("cli").size == 5 * 4 * 3 * 3 * 4
    tuner = search.preset("tuner")
    assert tuner.size == 5**5
    assert dict((d.name, d.choices) for d in tuner.dimensions)["roc_lookback"] == (1, 2, 3, 4, 5)
    joint = search.preset("joint")
    assert [d.name for d in joint.dimensions] == [
        "stop_loss_frac",
        "reentry_cooldown_s",
        "health_score_threshold",
    ]
    chosen = {"stop_loss_frac": 0.05, "reentry_cooldown_s": 60, "health_score_threshold": 40.0}
    assert joint.params_of(chosen).exit_intelligence_shadow_only is False
    with pytest.raises(search.SpaceError, match="outside its bounds"):
        search.dimension("obi_long_threshold", choices=(0.45, 0.6))
    with pytest.raises(search.SpaceError, match="must be int"):
        search.dimension("roc_lookback", choices=(2.5,))
    with pytest.raises(search.SpaceError, match="unknown parameter"):
        search.dimension("luck", low=0, high=1, step=0.1)
    assert search.dimension("roc_lookback", low=2, high=5, step=1).market
    assert search.Space.from_dict(search.preset("cli").to_dict()) == search.preset("cli")


def test_the_tuner_grid_is_centred_on_the_current_values():
    from trading.engine.params import DEFAULT_PARAMS

    current = DEFAULT_PARAMS.with_overrides({"stop_loss_frac": 0.05, "roc_lookback": 7})
    dims = {d.name: d.choices for d in search.preset("tuner", current).dimensions}
    assert dims["stop_loss_frac"] == (0.04, 0.045, 0.05, 0.055, 0.06)
    assert dims["roc_lookback"] == (5, 6, 7, 8, 9)
    assert dims["obi_long_threshold"] == (0.6, 0.625, 0.65, 0.675, 0.7)


def test_a_request_that_cannot_run_is_refused_before_any_work(tmp_path):
    klines = kline_file(tmp_path)
    with pytest.raises(StudyError, match="fewer than one window"):
        tiny_request(klines, train_days=1).check()
    with pytest.raises(StudyError, match="sampler"):
        tiny_request(klines, sampler="luck").check()
    big = search.Space("big", (
        search.dimension("roc_lookback", low=1, high=20, step=1),
        search.dimension("obi_depth_levels", low=1, high=50, step=1),
        search.dimension("atr_period", low=2, high=100, step=1),
    ))  # fmt: skip
    with pytest.raises(StudyError, match="99000 sets"):
        StudyRequest(START, START + DAY).trials_for(big)
    assert StudyRequest(START, START + DAY, trials=64).trials_for(big) == 64
    assert StudyRequest(START, START + DAY, space="cli").trials_for(search.preset("cli")) == 720
    assert (
        StudyRequest(START, START + DAY, sampler="random").trials_for(search.preset("tuner"))
        == 3125
    )


# --- studies (database) --------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_small_study_runs_in_process_and_stores_its_result(tmp_path, monkeypatch):
    study = study_create(tiny_request(kline_file(tmp_path)))
    assert study.trials_total == 4
    # in process, a task's progress is shown while it runs, not only between batches
    monkeypatch.setattr("backtests.study.PROGRESS_SAVE_S", 0.0)
    shown: list[tuple[float, int]] = []
    done = run_study(study.pk, on_progress=lambda p: shown.append((p.fraction, p.tasks_done)))
    assert done.status == StudyStatus.DONE
    assert any(0 < fraction < 0.5 and tasks == 0 for fraction, tasks in shown), shown
    assert shown[-1] == (1.0, 2)
    result = done.result
    assert result["trials_evaluated"] == 4
    assert len(result["windows"]) == 4
    assert result["data"]["books"].startswith("simulated books")
    assert done.tasks.count() == 2  # two batches of one group and one span
    assert progress_of(done).fraction == 1.0
    # Optuna holds the four trials, told their train score
    ostudy = optuna.load_study(
        study_name=done.optuna_name, storage=search.storage(search.storage_url())
    )
    complete = ostudy.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert sorted(t.number for t in complete) == [0, 1, 2, 3]
    assert done.best["train_score"] == max(t.value or 0.0 for t in complete)
    # the four grid points, each once
    values = sorted(json.dumps(t.params, sort_keys=True) for t in complete)
    assert values == sorted(json.dumps(v, sort_keys=True) for v in search.grid(
        search.Space.from_dict(TINY)))  # fmt: skip
    # the windows' figures come from the trials' stored trades
    first = result["windows"][0]
    assert first["train_trades"] >= 1
    assert first["params"] in search.grid(search.Space.from_dict(TINY))
    # a second run of the same options gives the same result (seeded sampler, seeded books)
    again = run_study(study_create(tiny_request(kline_file(tmp_path))).pk)
    assert again.result["windows"] == result["windows"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failed_task_is_retried_and_a_task_failing_every_time_fails_the_study(tmp_path):
    klines = kline_file(tmp_path)
    # the data is away during the first attempt (a mount that came back): the retry succeeds
    request = tiny_request(klines, space={"name": "one", "dimensions": {"stop_loss_frac": [0.02]}})
    study = study_create(request)
    calls: list[str] = []

    def dispatch(task_id: int) -> None:
        if not calls:
            klines.rename(tmp_path / "away.csv")
            calls.append(task_execute(task_id))
            (tmp_path / "away.csv").rename(klines)
        else:
            calls.append(task_execute(task_id))

    done = run_study(study.pk, dispatch=dispatch)
    assert done.status == StudyStatus.DONE
    assert calls[0].startswith("failed: SourceError: no such history file")
    assert calls[1] == "done"
    task = done.tasks.get()
    assert task.attempts == 2

    # a file that never covers the period: three attempts, then the study fails, named
    never = write_klines(
        tmp_path / "never.csv", synthetic_bars(SEED, START - 7 * DAY, 7 * 24 * 60 + 3 * 60)
    )
    study = study_create(tiny_request(never, space=request.space))
    with pytest.raises(StudyError, match="failed 3 times: SourceError"):
        run_study(study.pk)
    study.refresh_from_db()
    assert study.status == StudyStatus.FAILED
    assert "failed 3 times" in study.error
    task = study.tasks.get()
    assert (task.status, task.attempts) == (RunStatus.FAILED, 3)


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_study_killed_half_way_resumes_without_redoing_finished_work(tmp_path):
    klines = kline_file(tmp_path)
    study = study_create(tiny_request(klines, batch_size=1))
    db = connection.settings_dict
    env = {**os.environ, "DATABASE_URL":
           f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "manage.py", "walk_forward", "--resume", str(study.pk), "--eager",
         "--no-progress"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while WalkForwardTask.objects.filter(study=study, status=RunStatus.DONE).count() < 2:
            assert process.poll() is None, "the command ended before it was killed"
            assert time.monotonic() < deadline, "no two tasks done in 300 s"
            time.sleep(0.2)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    before = {
        t.pk: (t.attempts, t.seconds)
        for t in WalkForwardTask.objects.filter(study=study, status=RunStatus.DONE)
    }
    assert WalkForwardStudy.objects.get(pk=study.pk).status == StudyStatus.RUNNING
    # the killed process's running task (if any) is stale only after STALE_S: make it so
    WalkForwardTask.objects.filter(study=study, status=RunStatus.RUNNING).update(
        heartbeat_at=WalkForwardTask.objects.get(pk=min(before)).span_start
    )
    done = run_study(study.pk)
    assert done.status == StudyStatus.DONE
    after = {t.pk: (t.attempts, t.seconds) for t in done.tasks.filter(pk__in=before)}
    assert after == before  # finished work was not redone
    assert done.tasks.count() == 4
    assert done.result["trials_evaluated"] == 4
    reference = run_study(study_create(tiny_request(klines, batch_size=1)).pk)
    # Trial numbers are Optuna's ids: a trial the killed process asked and never stored is
    # failed, so the resumed study may number the same parameter set differently.
    assert without_trial_ids(done.result["windows"]) == without_trial_ids(
        reference.result["windows"]
    )


def without_trial_ids(windows: list[dict]) -> list[dict]:
    return [{k: v for k, v in w.items() if k != "trial"} for w in windows]


@pytest.mark.parametrize("kind", search.SAMPLERS)
def test_each_sampler_asks_values_of_the_space_and_is_reproducible(kind):
    space = search.Space.from_dict(TINY)

    def asks() -> list[dict[str, object]]:
        storage = optuna.storages.InMemoryStorage()
        study = optuna.create_study(
            storage=storage, study_name="s", direction="maximize",
            sampler=search.sampler_of(kind, space, seed=3, batch=0),
        )  # fmt: skip
        # told through a study without the grid sampler, as backtests.study does
        told = optuna.load_study(
            study_name="s", storage=storage, sampler=optuna.samplers.RandomSampler()
        )
        values = []
        for _ in range(4):
            trial = study.ask(search.distributions(space))
            values.append(trial.params)
            told.tell(trial.number, float(len(values)))
        return values

    first = asks()
    assert first == asks()
    assert all(v in search.grid(space) for v in first)
    if kind == "grid":  # every grid point once
        assert sorted(map(str, first)) == sorted(map(str, search.grid(space)))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_set_the_parameters_refuse_is_failed_and_not_counted(tmp_path):
    space = {"name": "bad-pair", "dimensions": {"min_risk_frac": [0.01, 0.04]},
             "fixed": {"max_risk_frac": 0.03}}  # fmt: skip
    study = study_create(tiny_request(kline_file(tmp_path), space=space))
    assert study.trials_total == 2
    done = run_study(study.pk)
    assert done.status == StudyStatus.DONE
    assert done.trials_total == 1
    assert done.result["trials_evaluated"] == 1
    ostudy = optuna.load_study(
        study_name=done.optuna_name, storage=search.storage(search.storage_url())
    )
    states = sorted(t.state.name for t in ostudy.get_trials())
    assert states == ["COMPLETE", "FAIL"]
