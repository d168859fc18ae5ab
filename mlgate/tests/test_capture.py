"""Feature rows: the daemon's sink and a backtest write the same vector for the same entry
(one feature function), labelled at the exit from its pnl, MFE and MAE (§7.1–7.2)."""

from __future__ import annotations

import pytest

from backtests.driver import ParamSet
from backtests.runner import backtest_run
from backtests.sources import history_source
from backtests.tests.helpers import BANKROLL, LATENCY, SEED, START, kline_file
from mlgate.models import TradeFeatures
from mlgate.services import label_of
from mlgate.sink import FeaturesSink
from trading.engine.features import FEATURE_NAMES
from trading.engine.params import DEFAULT_PARAMS
from trading.engine.records import PositionClosed
from trading.runtime.session import new_session, paper_venues
from trading.runtime.writer import PersistWriter

pytestmark = pytest.mark.django_db

END = START + 2 * 3_600_000


def test_labels_at_the_tenth_of_a_cent():
    assert [label_of(p) for p in (1_001, 1_000, 0, -1_000, -1_001)] == [1, 0, 0, 0, -1]


def daemon_rows(source) -> tuple[list[TradeFeatures], list[PositionClosed]]:
    """The daemon's path: its session over the events, the features sink on a writer whose
    queued writes are then applied in order, as the writer's batch does."""
    session = new_session(
        DEFAULT_PARAMS,
        lanes=("paper",),
        bankroll=BANKROLL,
        venues=paper_venues(LATENCY),
        warmup=source.warmup,
    )
    writer = PersistWriter()
    sink = FeaturesSink(writer)
    closed: list[PositionClosed] = []
    for event in source.events():
        produced = session.feed(event)
        if produced:
            sink.consume(event, produced, session.now)
            closed += [o for o in produced if isinstance(o, PositionClosed)]
    for write in writer.take_unwritten():
        write.fn(**write.kwargs)
    assert sink.health()["mlgate"]["captured"] > 0
    return list(TradeFeatures.objects.filter(run=None)), closed


def test_the_daemon_and_a_backtest_store_the_same_vectors(tmp_path):
    klines = kline_file(tmp_path, hours_after=4)
    rows, closed = daemon_rows(history_source(START, END, history=klines, seed=SEED))
    assert closed
    outcome = backtest_run(
        history_source(START, END, history=klines, seed=SEED),
        [ParamSet("default", DEFAULT_PARAMS)],
        lane="paper",
        bankroll=BANKROLL,
        latency_ms=LATENCY,
        start_ts=START,
        end_ts=END,
        max_gap_ms=120_000,
    )
    run = outcome.runs[0].run_id
    backtest = {r.position_uid: r for r in TradeFeatures.objects.filter(run=run)}
    daemon = {r.position_uid: r for r in rows}
    assert set(backtest) == set(daemon)
    assert (
        len(backtest)
        == outcome.runs[0].metrics["trades"] + outcome.runs[0].metrics["quarantined_trades"]
    )
    by_uid = {c.position_uid: c for c in closed}
    for uid, row in backtest.items():
        mine = daemon[uid]
        assert row.features == mine.features, uid  # one function, one vector
        assert set(row.features) == set(FEATURE_NAMES)  # jsonb keeps no key order
        assert (row.source, row.data_source) == ("backtest", "history")
        assert (mine.source, mine.run) == ("paper", None)
        trade = by_uid[uid]
        for r in (row, mine):
            assert (r.label, r.pnl, r.mfe, r.mae) == (
                label_of(trade.pnl),
                trade.pnl,
                trade.mfe,
                trade.mae,
            )
            assert r.exit_ts_ms == trade.ts > r.entry_ts_ms
            assert r.ticker == trade.ticker


def test_a_backtest_gates_with_the_predictor_it_is_given(tmp_path):
    from mlgate.predictor import GatePredictor
    from mlgate.tests.test_training import synthetic
    from mlgate.training import train

    klines = kline_file(tmp_path, hours_after=4)
    model = train(synthetic(200))

    def trades(mode: str, threshold: float) -> list[PositionClosed]:
        predictor = GatePredictor(model.artifact, model.features, threshold, "t")
        params = DEFAULT_PARAMS.with_overrides({"ml_gate_mode": mode})
        outcome = backtest_run(
            history_source(START, END, history=klines, seed=SEED),
            [ParamSet(mode, params)],
            lane="paper",
            bankroll=BANKROLL,
            latency_ms=LATENCY,
            start_ts=START,
            end_ts=END,
            max_gap_ms=120_000,
            predictor=predictor,
        )
        return outcome.runs[0].sink.trades

    off = trades("off", 2.0)
    assert off
    # Shadow never changes a trade, whatever the model says; a threshold no p_win reaches
    # rejects every entry in gate mode.
    assert [(t.position_uid, t.pnl) for t in trades("shadow", 2.0)] == [
        (t.position_uid, t.pnl) for t in off
    ]
    assert trades("gate", 2.0) == []


def test_a_gated_backtest_refuses_a_missing_or_unusable_model(tmp_path):
    import io

    from django.core.management import CommandError, call_command

    from mlgate.models import ModelVersion

    klines = str(kline_file(tmp_path, hours_after=4))
    args = ("backtest", "--start", "2026-01-01T00:00", "--end", "2026-01-01T01:00",
            "--source", "history", "--history", klines, "--no-progress")  # fmt: skip
    with pytest.raises(CommandError, match="--ml-model 999: no such model version"):
        call_command(*args, "--ml-model", "999", stdout=io.StringIO())
    with pytest.raises(CommandError, match="model version id or 'active'"):
        call_command(*args, "--ml-model", "newest", stdout=io.StringIO())
    version = ModelVersion.objects.create(
        artifact=b"x", artifact_sha256="0", features=[], features_hash="", threshold=0.5,
        source="csv", rows=1, metrics={},
    )  # fmt: skip
    with pytest.raises(CommandError, match=f"--ml-model {version.pk}: model {version.pk}: "):
        call_command(*args, "--ml-model", str(version.pk), stdout=io.StringIO())


def test_a_model_below_the_floor_gates_a_backtest_only_when_asked(tmp_path):
    import io
    import json

    from django.core.management import CommandError, call_command

    from mlgate.models import ModelVersion
    from mlgate.services import save_model
    from mlgate.tests.test_training import synthetic
    from mlgate.training import train

    klines = str(kline_file(tmp_path, hours_after=4))
    version = save_model(train(synthetic(200)), source="csv", lanes=[], activate=False)
    ModelVersion.objects.filter(pk=version.pk).update(
        threshold=2.0, metrics={**version.metrics, "oos_precision": 0.4}
    )
    sets = tmp_path / "sets.json"
    sets.write_text(json.dumps({"gate": {"ml_gate_mode": "gate"}}))
    args = ("backtest", "--start", "2026-01-01T00:00", "--end", "2026-01-01T04:00",
            "--source", "history", "--history", klines, "--no-progress", "--json",
            "--params", str(sets), "--ml-model", str(version.pk))  # fmt: skip
    with pytest.raises(CommandError, match=r"below the floor 0\.58"):
        call_command(*args, stdout=io.StringIO())
    with pytest.raises(CommandError, match="--ml-below-floor needs --ml-model"):
        call_command(*args[:-2], "--ml-below-floor", stdout=io.StringIO())
    out = io.StringIO()
    call_command(*args, "--ml-below-floor", stdout=out)
    assert json.loads(out.getvalue().splitlines()[-1])["trades"] == 0  # threshold 2: all rejected
