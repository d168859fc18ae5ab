"""The daemon loads the active model at its start and hands the predictor to the engine;
the health payload shows it (or why the gate fails open)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from mlgate.models import ModelVersion
from mlgate.services import save_model
from mlgate.sink import FeaturesSink
from mlgate.tests.test_training import synthetic
from mlgate.training import train
from trading.runtime.daemon import DaemonConfig
from trading.runtime.factory import build_daemon

START = 1_767_225_600_000

pytestmark = pytest.mark.django_db(transaction=True)


def started(tmp_path):
    daemon = build_daemon(
        DaemonConfig(spill_dir=tmp_path),
        feeds=[],
        candles=lambda before: [],
        start_ts=START,
        notify=False,
    )

    async def prepare() -> None:
        try:
            await daemon.prepare()
        finally:  # the ORM thread's connection would outlive the test database
            await sync_to_async(connections.close_all)()

    asyncio.run(prepare())
    return daemon


def test_the_active_model_reaches_the_engine_and_the_health_panel(tmp_path):
    version = save_model(train(synthetic(200)), source="paper", lanes=[], activate=True)
    daemon = started(tmp_path)
    assert any(isinstance(s, FeaturesSink) for s in daemon.sinks)
    gate = daemon.health_payload()["ml_gate"]
    assert (gate["model"], gate["load_error"]) == (str(version.pk), "")
    assert gate["threshold"] == version.threshold


def test_an_unusable_model_fails_open_and_says_why(tmp_path):
    version = save_model(train(synthetic(200)), source="paper", lanes=[], activate=True)
    ModelVersion.objects.filter(pk=version.pk).update(features=["obi"])
    daemon = started(tmp_path)
    gate = daemon.health_payload()["ml_gate"]
    assert gate["model"] is None
    assert "feature list does not match its hash" in gate["load_error"]
    assert daemon.session is not None
    assert daemon.session.engine.ml_gate.predictor is None


async def test_a_running_daemon_takes_up_a_promoted_model_without_a_restart(tmp_path):
    """Promotion (the weekly job's swap), then a retirement: the running daemon's gate
    follows the active version by its poll; no restart."""
    from mlgate.promotion import promote
    from mlgate.sink import ModelWatch

    result = await sync_to_async(lambda: train(synthetic(300)))()
    first = await sync_to_async(save_model)(result, source="paper", lanes=[], activate=True)
    daemon = build_daemon(
        DaemonConfig(spill_dir=tmp_path, model_poll_s=0.05),
        feeds=[],
        candles=lambda before: [],
        start_ts=START,
        notify=False,
    )
    watch = next(s for s in daemon.sinks if isinstance(s, ModelWatch))

    async def gate_model(wanted: str | None) -> dict:
        for _ in range(600):  # a bound, not a timing assertion: fail rather than hang
            gate = daemon.health_payload()["ml_gate"]
            if gate["model"] == wanted:
                return gate
            await asyncio.sleep(0.05)
        raise AssertionError(f"the daemon never loaded model {wanted}: {gate}")

    stop = asyncio.Event()
    try:
        await daemon.prepare()
        assert daemon.health_payload()["ml_gate"]["model"] == str(first.pk)
        task = asyncio.create_task(daemon.run(stop))
        entry = await sync_to_async(promote)(result, source="backtest", actor="test")
        assert entry.promoted
        gate = await gate_model(str(entry.candidate_id))
        assert gate["load_error"] == ""
        assert watch.health()["ml_model"]["loaded"] == entry.candidate_id
        await sync_to_async(ModelVersion.objects.filter(active=True).update)(active=False)
        gate = await gate_model(None)  # retired: no model, the gate fails open
        assert gate["load_error"] == ""
        assert watch.reloads == 2
        stop.set()
        await task
    finally:
        stop.set()
        await sync_to_async(connections.close_all)()
