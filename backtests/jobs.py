"""Operator actions on backtests: queue a pass for a worker, cancel one. Each writes a
``ControlAudit`` row (the controls' audit trail), applied or refused.

A queued pass's runs are stored at once as ``queued`` (one per parameter set), so they show
before a worker takes them; the task is sent only once that transaction has committed.
"""

from __future__ import annotations

import uuid

from django.db import transaction

from backtests import services
from backtests.models import BacktestRun, RunStatus
from backtests.request import BacktestRequest, RequestError
from backtests.version import code_version
from trading.services.controls import Actor, _audit


def backtest_enqueue(*, request: BacktestRequest, actor: Actor) -> uuid.UUID:
    """Queue ``request``; raises ``RequestError`` (audited as refused) when it cannot run."""
    wanted = request.to_dict()
    try:
        sets = request.check()
    except RequestError as exc:
        with transaction.atomic():
            _audit(
                actor=actor,
                action="backtest_start",
                before={},
                after=wanted,
                applied=False,
                message=str(exc),
            )
        raise
    batch = uuid.uuid4()
    version = code_version()
    with transaction.atomic():
        runs = [
            services.run_start(
                batch=batch,
                name=s.name,
                lane=request.lane,
                source=request.source,
                data={"source": request.source, "requested": wanted},
                code_version=version,
                params=s.params,
                start_ts=request.start_ts,
                end_ts=request.end_ts,
                bankroll=request.bankroll,
                status=RunStatus.QUEUED,
                requested_by=actor.label,
            )
            for s in sets
        ]
        _audit(
            actor=actor,
            action="backtest_start",
            before={},
            after={**wanted, "batch": str(batch), "runs": [r.pk for r in runs]},
            message=f"backtest {request.source} queued: runs {', '.join(str(r.pk) for r in runs)}",
        )
        # imported here: the task's modules load the simulator, the web process does not
        from backtests.tasks import run_backtest

        transaction.on_commit(lambda: run_backtest.delay(wanted, str(batch)))
    return batch


def backtest_cancel(*, run: BacktestRun, actor: Actor) -> bool:
    """Ask the pass of ``run`` to stop; False (audited as refused) when it already ended."""
    with transaction.atomic():
        active = services.runs_request_cancel(batch=run.batch)
        _audit(
            actor=actor,
            action="backtest_cancel",
            before={"run": run.pk, "status": run.status},
            after={"batch": str(run.batch)},
            applied=active > 0,
            message="" if active else f"backtest run {run.pk} is {run.status}: nothing to cancel",
        )
    return active > 0
