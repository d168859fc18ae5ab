"""Walk-forward throughput (issue #20): 200 parameter sets × 30 simulated days, walk-forward
20/5/5 days, on two Celery worker processes.

The study (``backtests.study``) draws 200 sets of the ``joint`` preset (lane parameters only:
one market group) with the seeded random sampler, in one batch, over a seeded synthetic path
written as a kline file (so the benchmark needs no shared data) with the simulator's books;
the period is cut in two time spans, so the batch is two tasks, one per worker. Workers are
started here (``celery worker --pool=solo -Q bench-tune``: a queue of its own, so nothing
else's tasks are touched) on the configured Redis (``REDIS_URL``) and a throwaway database
beside the configured one (``test_<name>``, created and migrated first, dropped after, as
the recorder and latency benchmarks do), so it runs on a database that was never migrated.

``wall_seconds``: from the first ask to the stored result (workers already up);
``lane_days_per_second``: sets × simulated days / wall seconds. ``--smoke``: 8 sets × 1 day.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

SEED = 20260101
START_TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000
QUEUE = "bench-tune"


def run(*, smoke: bool) -> dict[str, Any]:
    import django

    django.setup()
    from django.db import connection

    configured = connection.settings_dict["NAME"]
    if connection.vendor != "postgresql":
        raise SystemExit("the tune benchmark needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)")
    throwaway = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    url = os.environ["DATABASE_URL"]
    worker_env = {**os.environ, "DATABASE_URL": url[: url.rindex("/") + 1] + throwaway}
    try:
        return _measure(smoke, worker_env)
    finally:
        from backtests.search import close_storage

        close_storage()
        connection.creation.destroy_test_db(configured, verbosity=0)


def _measure(smoke: bool, worker_env: dict[str, str]) -> dict[str, Any]:
    from backtests.models import RunStatus
    from backtests.study import StudyRequest, run_study, study_create
    from backtests.tasks import run_walk_forward_task
    from backtests.tests.helpers import synthetic_bars, write_klines
    from kbtc_site.celery_workers import WorkersDidNotStart, celery_workers

    sets, days = (8, 1) if smoke else (200, 30)
    windows = (0.5, 0.25, 0.25) if smoke else (20, 5, 5)
    with tempfile.TemporaryDirectory() as tmp:
        begin = START_TS - 7 * DAY_MS
        bars = synthetic_bars(SEED, begin, (days + 8) * 1440)
        klines = write_klines(Path(tmp) / "klines.csv", bars)
        request = StudyRequest(
            start_ts=START_TS,
            end_ts=START_TS + days * DAY_MS,
            train_days=windows[0],
            test_days=windows[1],
            step_days=windows[2],
            space="joint",
            sampler="random",
            trials=sets,
            batch_size=sets,
            spans=2,
            seed=SEED,
            history=str(klines),
            sim_seed=SEED,
        )
        try:
            with celery_workers(
                2, prefix="bench-tune-", env=worker_env, queue=QUEUE, timeout_s=120, purge=False
            ):
                study = study_create(request, requested_by="bench")
                started = time.perf_counter()
                study = run_study(
                    study.pk,
                    dispatch=lambda pk: run_walk_forward_task.apply_async((pk,), queue=QUEUE),
                )
                wall = time.perf_counter() - started
        except WorkersDidNotStart as exc:
            raise SystemExit(f"the bench workers did not start: {exc}") from exc
    tasks = list(study.tasks.filter(status=RunStatus.DONE))
    result = study.result
    return {
        "events": sum(t.events for t in tasks),
        "seconds": round(wall, 2),
        "stream_sha256": sorted({t.data_sha256 for t in tasks})[0],
        "wall_seconds": round(wall, 2),
        "lane_days_per_second": round(sets * days / wall, 3),
        "sets": sets,
        "days": days,
        "windows_days": list(windows),
        "tasks": len(tasks),
        "task_seconds": [round(t.seconds or 0.0, 2) for t in tasks],
        "study": study.pk,
        "recommendation": result["recommendation"],
    }
