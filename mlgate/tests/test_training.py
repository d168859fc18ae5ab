"""Training on synthetic rows: time-ordered folds, the threshold rule, warnings, refusals,
the CSV round trip and the stored version the predictor loads."""

from __future__ import annotations

import io
import json
import random

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from mlgate.models import ModelVersion, TradeFeatures
from mlgate.predictor import GatePredictor
from mlgate.selectors import CsvError, feature_rows, read_csv, write_csv
from mlgate.training import (
    MIN_PRECISION,
    Row,
    TrainingError,
    choose_threshold,
    time_ordered_oof,
    train,
)
from trading.engine.features import FEATURE_NAMES

T0 = 1_735_689_600_000  # 2025-01-01


def synthetic(n: int, seed: int = 3) -> list[Row]:
    """Wins when obi is high (plus noise); the other features are noise."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        f = {name: rng.random() for name in FEATURE_NAMES}
        win = f["obi"] + rng.gauss(0, 0.15) > 0.5
        rows.append(Row(T0 + i * 60_000, f, 1 if win else -1))
    rng.shuffle(rows)  # the trainer orders them by time itself
    return rows


def test_time_ordered_folds_never_score_a_row_with_a_model_of_its_future():
    # Labels that flip halfway: a model of the past cannot know; the first block is unscored.
    x = np.arange(120, dtype=float).reshape(-1, 1)
    y = (np.arange(120) >= 60).astype(int)
    p = time_ordered_oof(x, y)
    assert np.isnan(p[:20]).all()
    assert not np.isnan(p[20:]).any()
    assert (p[20:60] == 0.0).all()  # trained on class 0 only: the frequency, 0


def test_threshold_maximises_f1_among_points_with_the_precision_floor():
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.65, 0.6, 0.5, 0.4, 0.3])
    threshold, precision, recall = choose_threshold(y, p, min_selected=1)
    assert (threshold, precision, recall) == (0.6, 0.8, 1.0)
    assert choose_threshold(np.array([0, 0, 1]), np.array([0.9, 0.8, 0.1]), 1)[0] == 0.5
    # One lucky row at the top does not make a threshold: too few rows selected.
    y = np.array([1] + [0] * 119)
    p = np.linspace(1.0, 0.0, len(y))
    assert choose_threshold(y, p, min_selected=1) == (1.0, 1.0, 1.0)
    assert choose_threshold(y, p)[0] == 0.5


def test_a_learnable_signal_trains_validates_and_predicts():
    result = train(synthetic(300))
    m = result.metrics
    assert result.rows == 300
    assert result.period == (T0, T0 + 299 * 60_000)
    assert m["oos_rows"] == 250  # the first of six blocks is never scored
    assert m["oos_precision"] >= MIN_PRECISION
    assert 0 < m["oos_recall"] <= 1
    assert {"shuffled_precision", "shuffled_recall"} <= set(m)
    assert next(iter(result.importances)) == "obi"
    assert not result.warnings
    predictor = GatePredictor(result.artifact, result.features, result.threshold, "t")
    high = predictor.p_win({**dict.fromkeys(FEATURE_NAMES, 0.5), "obi": 0.95})
    low = predictor.p_win({**dict.fromkeys(FEATURE_NAMES, 0.5), "obi": 0.05})
    assert high > result.threshold > low
    assert predictor.p_win({}) == predictor.p_win(dict.fromkeys(FEATURE_NAMES))  # None → 0


def test_refusals_and_few_rows_warning():
    with pytest.raises(TrainingError, match="at least 30"):
        train(synthetic(10))
    with pytest.raises(TrainingError, match="one class"):
        train([Row(r.ts, r.features, -1) for r in synthetic(40)])
    with pytest.raises(TrainingError, match="outcome columns"):
        train(synthetic(40), (*FEATURE_NAMES, "label"))
    assert any("only 60 rows" in w for w in train(synthetic(60)).warnings)
    # Only obi varies: it has all the importance, and the warning names it.
    alone = [Row(r.ts, {"obi": r.features["obi"]}, r.label) for r in synthetic(120)]
    assert any("feature obi has 100%" in w for w in train(alone).warnings)


@pytest.mark.django_db
def test_export_csv_train_from_it_and_store_the_version(tmp_path):
    for i, row in enumerate(sorted(synthetic(200), key=lambda r: r.ts)):
        TradeFeatures.objects.create(
            position_uid=f"u{i}",
            lane="paper",
            source="paper",
            entry_ts_ms=row.ts,
            features=dict(row.features),
            label=row.label,
            pnl=1 if row.label == 1 else -1,
        )
    TradeFeatures.objects.create(
        position_uid="open", lane="paper", source="paper", entry_ts_ms=T0, features={}
    )
    path = tmp_path / "features.csv"
    call_command("export_features", "--csv", str(path))
    with path.open() as stream:
        rows = read_csv(stream)
    assert len(rows) == 200  # the open (unlabelled) row is not a training row
    assert sorted(r.ts for r in rows) == sorted(r.entry_ts_ms for r in feature_rows())
    out = io.StringIO()
    call_command(
        "train_gate", "--source", "csv", "--csv", str(path), "--json", "--activate", stdout=out
    )
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    version = ModelVersion.objects.get(pk=summary["model"])
    assert version.active
    assert (version.rows, version.source, version.features) == (200, "csv", list(FEATURE_NAMES))
    assert version.metrics["oos_precision"] == summary["metrics"]["oos_precision"]
    GatePredictor(bytes(version.artifact), version.features, version.threshold, "v")
    # From the table, the same rows train the same model; a new active one retires the old.
    call_command("train_gate", "--source", "paper", "--activate", stdout=io.StringIO())
    assert ModelVersion.objects.filter(active=True).count() == 1
    assert ModelVersion.objects.get(pk=version.pk).active is False
    with pytest.raises(CommandError, match="live model needs 50"):
        call_command("train_gate", "--source", "live", stdout=io.StringIO())


def test_a_bad_csv_is_refused_naming_the_line():
    buffer = io.StringIO()
    write_csv([], buffer)
    header = buffer.getvalue()
    bad = header + "u,paper,paper,,,,1000," + ",".join(["x"] * len(FEATURE_NAMES)) + ",,1,,,,\n"
    with pytest.raises(CsvError, match="line 2: obi is not a number"):
        read_csv(io.StringIO(bad))
    with pytest.raises(CsvError, match="missing columns"):
        read_csv(io.StringIO("a,b\n1,2\n"))


@pytest.mark.django_db
def test_the_daemon_loads_the_active_model_or_says_why_not():
    from mlgate.services import load_active_predictor, save_model

    assert load_active_predictor() == (None, "")  # no model: the gate fails open, no error
    result = train(synthetic(200))
    version = save_model(result, source="paper", lanes=[], activate=True)
    predictor, error = load_active_predictor()
    assert error == ""
    assert predictor is not None
    assert (predictor.threshold, predictor.features) == (result.threshold, FEATURE_NAMES)
    assert predictor.version == str(version.pk)
    ModelVersion.objects.filter(pk=version.pk).update(artifact=b"not a model")
    predictor, error = load_active_predictor()
    assert predictor is None
    assert "do not match their sha256" in error
    ModelVersion.objects.filter(pk=version.pk).update(
        artifact=result.artifact, metrics={**result.metrics, "oos_precision": 0.5}
    )
    predictor, error = load_active_predictor()
    assert predictor is None
    assert "below the floor 0.58" in error
