"""A walk-forward study: parameter sets proposed by an Optuna sampler in batches (ask/tell),
each batch evaluated as research lanes of one market pass per (market-parameter group ×
time span), every window's train and test figures cut from those passes by time
(``backtests.walkforward``), the §4.4 result stored on ``WalkForwardStudy``.

Work is stored before it runs: a batch's asks become ``WalkForwardTask`` rows (the trial
numbers and values in lane order) in one transaction, then run in this process (``eager``)
or on Celery workers (``celery``: ``backtests.run_walk_forward_task``), which store each
trial's trades on the row. The coordinator (this module, in the command or the auto-tuner's
task) waits for a batch, tells Optuna each trial's train score and asks the next batch.

- **Resume**: a study killed half-way (the coordinator or a worker) continues with
  ``run_study`` on the same id: done tasks are kept, a running task whose heartbeat went
  stale is a lost worker's and runs again, trials asked but never stored are failed in
  Optuna (the seeded sampler of that batch asks again).
- **Failures**: a failed task runs again up to ``MAX_ATTEMPTS`` times; then the study fails
  with the task's error (never dropped silently).
- **Time spans**: ``spans`` > 1 splits the period into that many contiguous parts run
  separately (more parallel work; each part starts cold, as a separate run per window
  would: see ``walkforward``'s note). Default 1.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import timedelta
from typing import Any

import optuna
import structlog
from django.db import transaction
from django.utils import timezone

from backtests import search
from backtests.driver import ParamSet, run_pass
from backtests.models import RunStatus, StudyStatus, WalkForwardStudy, WalkForwardTask
from backtests.request import BacktestRequest, RequestError
from backtests.runner import PROGRESS_SAVE_S, beating
from backtests.walkforward import (
    MIN_TRADES,
    OBJECTIVES,
    Candidate,
    Trade,
    WalkForwardError,
    Window,
    cut_windows,
    lane_windows,
    summarise,
    train_score,
)
from marketdata.recorder.rows import ms_to_utc, utc_to_ms
from trading.engine.engine import DEFAULT_BANKROLL
from trading.engine.params import DEFAULT_PARAMS, Params

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 3
STALE_S = 60.0  # a running task without a heartbeat this long lost its worker
POLL_S = 0.5
FULL_GRID_MAX = 10_000  # §4.4: the full grid up to this many sets, else RANDOM_DRAWS
RANDOM_DRAWS = 200


class StudyError(ValueError):
    """A study that cannot run or failed; the message says why."""


@dataclass(frozen=True, slots=True)
class StudyRequest:
    start_ts: int
    end_ts: int
    train_days: float = 36
    test_days: float = 5
    step_days: float = 5
    space: str | dict[str, Any] = "cli"  # a preset's name or ``Space.to_dict()``
    sampler: str = "grid"
    trials: int | None = None  # None: the full grid up to 10,000 sets, else 200 draws
    batch_size: int = 50
    seed: int = 1
    objective: str = "sharpe"
    min_trades: int = MIN_TRADES
    spans: int = 1
    base: str = "default"  # the parameters the space varies: default or stored
    # the data (as ``BacktestRequest``)
    source: str = "history"
    history: str | None = None
    settled: str | None = None
    sim_seed: int = 1
    archive_dir: str | None = None
    stream: str = "journal"
    lane: str = "paper"
    bankroll: int = DEFAULT_BANKROLL
    latency_ms: int = 200
    max_gap_s: int = 120
    extra: dict[str, Any] = field(default_factory=dict)  # kept with the study (the tuner's)

    def base_params(self) -> Params:
        if self.base == "default":
            return DEFAULT_PARAMS
        if self.base == "stored":
            from backtests.paramsets import stored_sets

            return stored_sets()[0].params
        raise StudyError(f"base must be default or stored, got {self.base!r}")

    def windows(self) -> list[Window]:
        """The walk-forward windows of the study's period (``WalkForwardError`` if none)."""
        return cut_windows(
            self.start_ts,
            self.end_ts,
            train_days=self.train_days,
            test_days=self.test_days,
            step_days=self.step_days,
        )

    def space_of(self) -> search.Space:
        if isinstance(self.space, dict):
            return search.Space.from_dict(self.space)
        return search.preset(self.space, self.base_params())

    def trials_for(self, space: search.Space) -> int:
        if self.trials is not None:
            if self.sampler == "grid":
                return min(self.trials, space.size)
            return self.trials
        if self.sampler == "grid" and space.size > FULL_GRID_MAX:
            raise StudyError(
                f"the grid of {space.name} has {space.size} sets (> {FULL_GRID_MAX}): "
                "give --trials or use the random or tpe sampler"
            )
        return space.size if space.size <= FULL_GRID_MAX else RANDOM_DRAWS

    def check(self) -> tuple[search.Space, list[Any]]:
        """Raise ``StudyError`` naming the first bad option; the space and the windows."""
        if self.sampler not in search.SAMPLERS:
            raise StudyError(f"sampler must be one of {', '.join(search.SAMPLERS)}")
        if self.objective not in OBJECTIVES:
            raise StudyError(f"objective must be one of {', '.join(OBJECTIVES)}")
        if self.batch_size < 1 or self.spans < 1 or self.min_trades < 0:
            raise StudyError("batch_size and spans must be >= 1, min_trades >= 0")
        if self.trials is not None and self.trials < 1:
            raise StudyError("trials must be >= 1")
        try:
            space = self.space_of()
            windows = self.windows()
            self.backtest_request(self.start_ts, self.end_ts).check()
        except (search.SpaceError, WalkForwardError, RequestError) as exc:
            raise StudyError(str(exc)) from exc
        self.trials_for(space)
        return space, windows

    def backtest_request(self, start_ts: int, end_ts: int) -> BacktestRequest:
        return BacktestRequest(
            start_ts=start_ts,
            end_ts=end_ts,
            source=self.source,
            history=self.history,
            settled=self.settled,
            seed=self.sim_seed,
            archive_dir=self.archive_dir,
            stream=self.stream,
            lane=self.lane,
            bankroll=self.bankroll,
            latency_ms=self.latency_ms,
            max_gap_s=self.max_gap_s,
        )

    def spans_of(self) -> list[tuple[int, int]]:
        """``spans`` contiguous parts of the period, cut on whole minutes."""
        minutes = (self.end_ts - self.start_ts) // 60_000
        cuts = [self.start_ts + (minutes * i // self.spans) * 60_000 for i in range(self.spans)]
        return list(zip(cuts, [*cuts[1:], self.end_ts], strict=True))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StudyRequest:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise StudyError(f"unknown study options: {', '.join(unknown)}")
        return cls(**raw)


def study_create(
    request: StudyRequest, *, kind: str = "walk_forward", requested_by: str = ""
) -> WalkForwardStudy:
    """Check ``request`` and store the study (queued); its Optuna study is created here."""
    space, windows = request.check()
    with transaction.atomic():
        study = WalkForwardStudy.objects.create(
            kind=kind,
            optuna_name=f"pending-{timezone.now().timestamp()}",
            request=request.to_dict(),
            windows=[w.as_dict() for w in windows],
            trials_total=request.trials_for(space),
            requested_by=requested_by,
            data={"space": space.to_dict()},
        )
        study.optuna_name = f"kbtc-{kind}-{study.pk}-{timezone.now():%Y%m%dT%H%M%S}"
        study.save(update_fields=["optuna_name"])
    search.load_study(study.optuna_name, optuna.samplers.RandomSampler(seed=request.seed))
    return study


# --- one task ----------------------------------------------------------------------------


def task_begin(task_id: int) -> WalkForwardTask | None:
    """Take a queued (or retried) task; None when another process holds it or it is done."""
    with transaction.atomic():
        task = WalkForwardTask.objects.select_for_update().get(pk=task_id)
        if task.status != RunStatus.QUEUED:
            return None
        task.status = RunStatus.RUNNING
        task.attempts += 1
        task.heartbeat_at = timezone.now()
        task.error = ""
        task.progress = 0.0
        task.save(update_fields=["status", "attempts", "heartbeat_at", "error", "progress"])
    return task


def task_execute(task_id: int, on_saved: Callable[[], None] | None = None) -> str:
    """Run one task (a worker's or the eager coordinator's); stores its trades or its error
    on the row and never raises for a failure of the work itself. ``on_saved`` is called
    after each progress save (the eager coordinator shows its progress from there)."""
    task = task_begin(task_id)
    if task is None:
        return "not queued"
    started = time.monotonic()
    try:
        with beating(
            lambda: WalkForwardTask.objects.filter(pk=task_id, status=RunStatus.RUNNING).update(
                heartbeat_at=timezone.now()
            ),
            f"walk-forward-task-{task_id}",
        ):
            outcome = _evaluate(task, on_saved)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        WalkForwardTask.objects.filter(pk=task_id, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED, error=error[:4000], seconds=time.monotonic() - started
        )
        log.warning("walk_forward_task_failed", task=task_id, attempt=task.attempts, error=error)
        return f"failed: {error}"
    WalkForwardTask.objects.filter(pk=task_id, status=RunStatus.RUNNING).update(
        status=RunStatus.DONE, seconds=time.monotonic() - started, **outcome
    )
    return "done"


def _evaluate(task: WalkForwardTask, on_saved: Callable[[], None] | None) -> dict[str, Any]:
    study = task.study
    request = StudyRequest.from_dict(study.request)
    space = search.Space.from_dict(study.data["space"])
    base = request.base_params()
    start, end = utc_to_ms(task.span_start), utc_to_ms(task.span_end)
    source = request.backtest_request(start, end).source_of()
    sets = [ParamSet(f"t{s['trial']}", space.params_of(s["values"], base)) for s in task.sets]
    saved = time.monotonic()

    def progress(events: int, ts: int) -> None:
        nonlocal saved
        if time.monotonic() - saved >= PROGRESS_SAVE_S:
            saved = time.monotonic()
            WalkForwardTask.objects.filter(pk=task.pk, status=RunStatus.RUNNING).update(
                progress=min((ts - start) / (end - start), 1.0), events=events
            )
            if on_saved is not None:
                on_saved()

    result = run_pass(
        source.events(),
        sets,
        lane=request.lane,
        bankroll=request.bankroll,
        latency_ms=request.latency_ms,
        warmup=source.warmup,
        start_ts=start,
        end_ts=end,
        max_gap_ms=request.max_gap_s * 1000,
        on_progress=progress,
        research=True,
    )
    trades = {
        str(s["trial"]): [Trade.of(t).row() for t in sink.counted_trades]
        for s, sink in zip(task.sets, result.sinks, strict=True)
    }
    return {
        "result": trades,
        "progress": 1.0,
        "events": result.events,
        "data": source.data,
        "data_sha256": source.sha256(),
    }


# --- the coordinator ------------------------------------------------------------------------

Dispatch = Callable[[int], None]


def celery_dispatch(task_id: int) -> None:
    from backtests.tasks import run_walk_forward_task

    run_walk_forward_task.delay(task_id)


@dataclass(slots=True)
class Progress:
    study: int
    status: str
    trials_done: int
    trials_total: int
    tasks_done: int
    tasks_total: int
    fraction: float
    best: dict[str, Any]
    eta_s: float | None
    stalled: bool  # running, but its coordinator and its tasks gave no sign of life


def progress_of(study: WalkForwardStudy) -> Progress:
    """done/total (in parameter-set spans), the best trial so far and an ETA."""
    request = study.request
    spans = int(request.get("spans", 1))
    total_units = max(study.trials_total * spans, 1)
    done_units = sum(
        len(sets) * (1.0 if status == RunStatus.DONE else progress)
        for sets, status, progress in study.tasks.filter(
            status__in=(RunStatus.DONE, RunStatus.RUNNING)
        ).values_list("sets", "status", "progress")
    )
    fraction = min(done_units / total_units, 1.0) if study.status != StudyStatus.DONE else 1.0
    stalled = False
    if study.status == StudyStatus.RUNNING:
        alive = timezone.now() - timedelta(seconds=STALE_S)
        stalled = not (
            (study.heartbeat_at is not None and study.heartbeat_at >= alive)
            or study.tasks.filter(status=RunStatus.RUNNING, heartbeat_at__gte=alive).exists()
        )
    eta = None
    if (
        study.status == StudyStatus.RUNNING
        and not stalled
        and study.started_at
        and 0 < fraction < 1
    ):
        elapsed = (timezone.now() - study.started_at).total_seconds()
        eta = elapsed * (1 - fraction) / fraction
    return Progress(
        study.pk,
        study.status,
        study.trials_done,
        study.trials_total,
        study.tasks.filter(status=RunStatus.DONE).count(),
        study.tasks.count(),
        fraction,
        study.best,
        eta,
        stalled,
    )


def run_study(
    study_id: int,
    *,
    dispatch: Dispatch | None = None,
    budget_s: float | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> WalkForwardStudy:
    """Run (or resume) the study to its end; returns it done, or raises ``StudyError``
    with the study marked failed. ``dispatch`` sends a task to a worker; without one, each
    task runs here, reporting its progress as it goes. ``budget_s``: no new batch is asked
    after this many wall seconds (the study ends with the trials done, and says so)."""
    began = time.monotonic()
    if dispatch is None:

        def dispatch(task_id: int) -> None:
            task_execute(task_id, on_saved=lambda: _report(study_id, on_progress))

    study = WalkForwardStudy.objects.get(pk=study_id)
    if study.status == StudyStatus.DONE:
        return study
    request = StudyRequest.from_dict(study.request)
    space = search.Space.from_dict(study.data["space"])
    WalkForwardStudy.objects.filter(pk=study_id).update(
        status=StudyStatus.RUNNING,
        error="",
        started_at=study.started_at or timezone.now(),
        heartbeat_at=timezone.now(),
    )
    budget_hit = False
    try:
        _fail_orphan_trials(study)
        while True:
            open_batch = (
                WalkForwardTask.objects.filter(study=study)
                .exclude(status=RunStatus.DONE)
                .order_by("batch")
                .values_list("batch", flat=True)
                .first()
            )
            if open_batch is not None:
                _finish_batch(study, open_batch, dispatch, on_progress)
            _tell_done_batches(study, request, space)
            _report(study_id, on_progress)
            asked = _asked(study)
            if len(asked) >= study.trials_total:
                break
            if budget_s is not None and time.monotonic() - began >= budget_s:
                budget_hit = True
                break
            _ask_batch(study, request, space, batch=_next_batch(study), asked=len(asked))
        result = _result(study, request, space, budget_hit=budget_hit)
    except Exception as exc:
        WalkForwardStudy.objects.filter(pk=study_id).update(
            status=StudyStatus.FAILED, error=str(exc)[:4000], finished_at=timezone.now()
        )
        _report(study_id, on_progress)
        if isinstance(exc, StudyError):
            raise
        raise StudyError(f"study {study_id} failed: {type(exc).__name__}: {exc}") from exc
    WalkForwardStudy.objects.filter(pk=study_id).update(
        status=StudyStatus.DONE, result=result, finished_at=timezone.now()
    )
    _report(study_id, on_progress)
    return WalkForwardStudy.objects.get(pk=study_id)


def _report(study_id: int, on_progress: Callable[[Progress], None] | None) -> None:
    if on_progress is not None:
        on_progress(progress_of(WalkForwardStudy.objects.get(pk=study_id)))


def _asked(study: WalkForwardStudy) -> set[int]:
    trials: set[int] = set()
    for sets in WalkForwardTask.objects.filter(study=study, span=0).values_list("sets", flat=True):
        trials.update(int(s["trial"]) for s in sets)
    return trials


def _next_batch(study: WalkForwardStudy) -> int:
    last = (
        WalkForwardTask.objects.filter(study=study)
        .order_by("-batch")
        .values_list("batch", flat=True)
        .first()
    )
    return 0 if last is None else last + 1


def _optuna(
    study: WalkForwardStudy, request: StudyRequest, space: search.Space, batch: int
) -> optuna.Study:
    return search.load_study(
        study.optuna_name, search.sampler_of(request.sampler, space, seed=request.seed, batch=batch)
    )


def _told(study: WalkForwardStudy) -> optuna.Study:
    """The Optuna study for tells and reads (a grid sampler would stop the study when its
    grid is told complete, which Optuna allows only inside ``optimize``)."""
    return search.load_study(study.optuna_name, optuna.samplers.RandomSampler())


def _fail_orphan_trials(study: WalkForwardStudy) -> None:
    """Trials asked by a coordinator killed before their tasks were stored: failed."""
    ostudy = _told(study)
    asked = _asked(study)
    for trial in ostudy.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if trial.number not in asked:
            ostudy.tell(trial.number, state=optuna.trial.TrialState.FAIL)


def _ask_batch(
    study: WalkForwardStudy, request: StudyRequest, space: search.Space, *, batch: int, asked: int
) -> None:
    ostudy = _optuna(study, request, space, batch)
    wanted = min(request.batch_size, study.trials_total - asked)
    dists = search.distributions(space)
    sets: dict[str, list[dict[str, Any]]] = {}
    for _ in range(wanted):
        trial = ostudy.ask(dists)
        values = {d.name: trial.params[d.name] for d in space.dimensions}
        try:
            space.params_of(values)  # a combination the parameter set refuses: failed
        except search.SpaceError as exc:
            # failed in Optuna (a grid does not propose it again) and not counted
            _told(study).tell(trial.number, state=optuna.trial.TrialState.FAIL)
            study.trials_total -= 1
            WalkForwardStudy.objects.filter(pk=study.pk).update(trials_total=study.trials_total)
            log.info("walk_forward_set_refused", study=study.pk, error=str(exc))
            continue
        sets.setdefault(search.group_key(values, space), []).append(
            {"trial": trial.number, "values": values}
        )
    if not sets:
        raise StudyError(f"batch {batch}: the space proposed no set the parameters accept")
    with transaction.atomic():
        for group, members in sorted(sets.items()):
            for index, (start, end) in enumerate(request.spans_of()):
                WalkForwardTask.objects.create(
                    study=study,
                    batch=batch,
                    group=group,
                    span=index,
                    span_start=ms_to_utc(start),
                    span_end=ms_to_utc(end),
                    sets=members,
                )
        WalkForwardStudy.objects.filter(pk=study.pk).update(
            tasks_total=WalkForwardTask.objects.filter(study=study).count()
        )


def _finish_batch(
    study: WalkForwardStudy,
    batch: int,
    dispatch: Dispatch,
    on_progress: Callable[[Progress], None] | None,
) -> None:
    """Run the batch's unfinished tasks until all are done; retried up to MAX_ATTEMPTS."""
    tasks = WalkForwardTask.objects.filter(study=study, batch=batch)
    # when each (task, attempt) was sent: while no task of the batch runs, a queued one not
    # taken within STALE_S is sent again (a message lost with a killed worker); a second
    # copy finds it taken and stops
    sent: dict[tuple[int, int], float] = {}
    last_report = 0.0
    while True:
        stale = timezone.now() - timedelta(seconds=STALE_S)
        for task in tasks.filter(status=RunStatus.RUNNING, heartbeat_at__lt=stale):
            _requeue_or_fail(task, f"worker lost: no heartbeat since {task.heartbeat_at:%H:%M:%S}")
        for task in tasks.filter(status=RunStatus.FAILED):
            _requeue_or_fail(task, task.error)
        pending = list(tasks.filter(status=RunStatus.QUEUED).values_list("pk", "attempts"))
        idle = not tasks.filter(status=RunStatus.RUNNING).exists()
        for pk, attempts in pending:
            last_sent = sent.get((pk, attempts))
            if last_sent is None or (idle and time.monotonic() - last_sent > STALE_S):
                sent[(pk, attempts)] = time.monotonic()
                dispatch(pk)
        WalkForwardStudy.objects.filter(pk=study.pk).update(
            tasks_done=WalkForwardTask.objects.filter(study=study, status=RunStatus.DONE).count(),
            heartbeat_at=timezone.now(),
        )
        if not tasks.exclude(status=RunStatus.DONE).exists():
            return
        if time.monotonic() - last_report >= 2.0:
            last_report = time.monotonic()
            _report(study.pk, on_progress)
        time.sleep(POLL_S)


def _requeue_or_fail(task: WalkForwardTask, error: str) -> None:
    if task.attempts >= MAX_ATTEMPTS:
        WalkForwardTask.objects.filter(pk=task.pk).update(status=RunStatus.FAILED, error=error)
        raise StudyError(
            f"task {task.pk} (batch {task.batch}, span {task.span}, group {task.group}) failed "
            f"{task.attempts} times: {error}"
        )
    log.warning("walk_forward_task_retry", task=task.pk, attempts=task.attempts, error=error)
    WalkForwardTask.objects.filter(pk=task.pk, status=task.status).update(
        status=RunStatus.QUEUED, error=f"retrying after: {error}"[:4000]
    )


def _candidates(
    study: WalkForwardStudy, request: StudyRequest, batches: Sequence[int] | None = None
) -> list[Candidate]:
    """Each trial's per-window figures from its spans' trades (done tasks)."""
    windows = request.windows()
    tasks = WalkForwardTask.objects.filter(study=study, status=RunStatus.DONE).order_by(
        "batch", "group", "span"
    )
    if batches is not None:
        tasks = tasks.filter(batch__in=batches)
    trades: dict[int, list[Trade]] = {}
    values: dict[int, dict[str, Any]] = {}
    for task in tasks:
        for member in task.sets:
            number = int(member["trial"])
            values[number] = member["values"]
            rows = task.result.get(str(number), [])
            trades.setdefault(number, []).extend(Trade.from_row(r) for r in rows)
    return [
        Candidate(
            number,
            values[number],
            lane_windows(
                sorted(trades[number], key=lambda t: (t.ts, t.opened_ts)),
                windows,
                bankroll=request.bankroll,
            ),
        )
        for number in sorted(values)
    ]


def _tell_done_batches(study: WalkForwardStudy, request: StudyRequest, space: search.Space) -> None:
    """Tell Optuna the train score of every trial whose batch is done and not yet told."""
    done_batches = sorted(
        set(WalkForwardTask.objects.filter(study=study).values_list("batch", flat=True))
        - set(
            WalkForwardTask.objects.filter(study=study)
            .exclude(status=RunStatus.DONE)
            .values_list("batch", flat=True)
        )
    )
    ostudy = _told(study)
    running = {
        t.number
        for t in ostudy.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    }
    if running:
        for candidate in _candidates(study, request, done_batches):
            if candidate.trial in running:
                score = train_score(
                    candidate.windows, objective=request.objective, min_trades=request.min_trades
                )
                ostudy.tell(candidate.trial, score)
    complete = ostudy.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    best: dict[str, Any] = {}
    if complete:
        top = max(complete, key=lambda t: (t.value, -t.number))
        best = {"trial": top.number, "train_score": top.value, "values": top.params}
    WalkForwardStudy.objects.filter(pk=study.pk).update(trials_done=len(complete), best=best)


def _result(
    study: WalkForwardStudy, request: StudyRequest, space: search.Space, *, budget_hit: bool
) -> dict[str, Any]:
    windows = request.windows()
    candidates = _candidates(study, request)
    result = summarise(
        candidates, windows, objective=request.objective, min_trades=request.min_trades
    )
    first = (
        WalkForwardTask.objects.filter(study=study, status=RunStatus.DONE).order_by("pk").first()
    )
    result["data"] = {
        "source": request.source,
        **({"history": request.history} if request.source == "history" else {}),
        **(first.data if first else {}),
        "sha256": sorted(
            set(WalkForwardTask.objects.filter(study=study).values_list("data_sha256", flat=True))
        ),
        "period": [request.start_ts, request.end_ts],
    }
    result["trials_evaluated"] = len(candidates)
    result["budget_hit"] = budget_hit
    result["space"] = space.to_dict()
    result["sampler"] = request.sampler
    result["seed"] = request.seed
    result["work_seconds"] = sum(
        s or 0.0
        for s in WalkForwardTask.objects.filter(study=study).values_list("seconds", flat=True)
    )
    return finite(result)


def finite(value: Any) -> Any:
    """Plain JSON: an infinite or NaN float (a lossless profit factor) becomes None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value
