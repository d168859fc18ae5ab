"""The ``kxbtc15m`` calibration figures: the agreement arithmetic on a made-up list, and
(slow, needs ``../shared/data``) issue #17's targets on the real tape and settled list."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from marketdata.settled import SettledMarket, SettledMarkets
from marketdata.sim.calibration import settlement_agreement
from marketdata.sim.prices import PricePath
from marketdata.sim.schedule import average_cents
from marketdata.sim.stream import history_for

ROOT = Path(__file__).resolve().parents[3]
START = 1_767_225_600_000


def test_agreement_counts_the_markets_the_path_settles_like_kalshi():
    history = history_for(2, START, 300)
    path = PricePath(history, 2)
    markets = []
    for open_ts in range(START, START + 4 * 3_600_000, 900_000):
        strike = average_cents(path, open_ts // 1000)
        close = average_cents(path, (open_ts + 900_000) // 1000)
        markets.append(
            SettledMarket(
                "", open_ts, open_ts + 900_000, strike, close, "yes" if close >= strike else "no"
            )
        )
    flipped = [
        dataclasses.replace(m, result="no" if m.result == "yes" else "yes") if i % 4 == 0 else m
        for i, m in enumerate(markets)
    ]
    figures = settlement_agreement(SettledMarkets(flipped), history, 2, START, START + 86_400_000)
    assert (figures["markets"], figures["agree"]) == (16, 12)
    assert figures["median_path_minus_index_usd"] == 0
    with pytest.raises(ValueError, match="no settled market"):
        settlement_agreement(SettledMarkets(flipped), history, 2, 0, 1)


@pytest.mark.slow
def test_simcal_kxbtc15m_meets_the_issue_targets_on_held_out_markets():
    sys.path.insert(0, str(ROOT))
    from bench import simcal

    if not simcal.TAPE_FILE.exists() or not simcal.SETTLED_FILE.exists():
        pytest.skip(f"no KXBTC15M data in {simcal.DATA}")
    section = simcal.kxbtc15m_section(smoke=False)
    assert section["markets"] == {"fit": 32, "held_out": 31}
    assert section["sigma_scale"]["fitted"] == section["sigma_scale"]["in_code"]
    assert section["targets_met"] == {
        "mid_error_median_le_5c": True,
        "mid_error_last_3_min_median_le_8c": True,
        "spread_median_within_1c": True,
        "volume_median_within_2x": True,
    }
    assert 0.95 <= section["settlement_agreement"]["agreement"] <= 0.98
