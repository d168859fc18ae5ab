"""Parameter sets: defaults, stored overrides, files; bad values named before any work."""

from __future__ import annotations

import pytest
from django.utils import timezone

from backtests.paramsets import ParamFileError, param_sets
from trading.engine.params import DEFAULT_PARAMS
from trading.models import ParamOverride


def test_defaults_and_a_single_table_file(tmp_path):
    (only,) = param_sets("default")
    assert (only.name, only.params) == ("default", DEFAULT_PARAMS)
    path = tmp_path / "wide.json"
    path.write_text('{"stop_loss_frac": 0.05, "roc_lookback": 4}')
    (wide,) = param_sets(str(path))
    assert wide.name == "wide"
    assert (wide.params.stop_loss_frac, wide.params.roc_lookback) == (0.05, 4)


@pytest.mark.django_db
def test_stored_overrides_are_the_daemons_parameters():
    ParamOverride.objects.create(
        name="obi_long_threshold", value=0.7, set_by_label="test", set_at=timezone.now()
    )
    ParamOverride.objects.create(
        name="obi_long_threshold",
        lane="live",
        value=0.8,
        set_by_label="test",
        set_at=timezone.now(),
    )
    (stored,) = param_sets("stored")
    assert stored.params.obi_long_threshold == 0.7
    (live,) = param_sets("stored", "live")
    assert live.params.obi_long_threshold == 0.8
    ParamOverride.objects.filter(name="obi_long_threshold").update(value=7)
    with pytest.raises(ParamFileError, match="stored overrides do not apply: obi_long_threshold"):
        param_sets("stored")


def test_a_missing_file_and_a_table_that_is_not_a_set_are_named(tmp_path):
    with pytest.raises(ParamFileError, match="cannot read parameter file"):
        param_sets(str(tmp_path / "absent.toml"))
    path = tmp_path / "mixed.json"
    path.write_text('{"a": {"stop_loss_frac": 0.05}, "b": 3}')
    with pytest.raises(ParamFileError, match=r"mixes named sets \(a\) with parameters"):
        param_sets(str(path))
