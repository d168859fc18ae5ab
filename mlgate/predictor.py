"""The gate's predictor: a trained booster in memory, handed to the engine by the daemon
(the engine loads no files and knows no XGBoost; it calls ``p_win``). Pure: no I/O after
construction, the same features give the same probability."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np
from xgboost import Booster


class GatePredictor:
    __slots__ = ("_booster", "features", "threshold", "version")

    def __init__(
        self, artifact: bytes, features: Sequence[str], threshold: float, version: str
    ) -> None:
        booster = Booster(params={"nthread": 1})
        booster.load_model(bytearray(artifact))
        if booster.num_features() != len(features):
            raise ValueError(
                f"model {version}: booster has {booster.num_features()} features, "
                f"its list {len(features)}"
            )
        self._booster = booster
        self.features = tuple(features)
        self.threshold = float(threshold)
        self.version = version

    def p_win(self, features: Mapping[str, float | int | None]) -> float:
        """P(win) of an entry with these features (missing or None → 0, as in training)."""
        row = np.array([[float(features.get(n) or 0.0) for n in self.features]])
        return float(self._booster.inplace_predict(row)[0])


def artifact_sha256(artifact: bytes) -> str:
    return hashlib.sha256(artifact).hexdigest()
