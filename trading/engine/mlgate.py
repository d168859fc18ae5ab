"""The ML entry gate's rule (domain.md §7.4, §13.5), pure: the daemon hands the engine a
predictor already in memory (``mlgate.predictor.GatePredictor``); the engine loads nothing.

Per lane, ``ml_gate_mode``: ``off`` (no rule, no record), ``shadow`` (p_win recorded on the
decision's rules, nothing changes) or ``gate`` (below the model's threshold the entry is
rejected, ``ML_GATE_REJECTED_p0.xx``; at or above ``ml_conviction_up_p`` conviction rises one
step). Fail-open (§7.4): no model, a model that failed to load or an inference error lets
the entry through as p_win 0.5 and is counted for the health panel.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol

from trading.engine.resolver import LADDER, Resolution

FAIL_OPEN_P = 0.5


class WinPredictor(Protocol):
    threshold: float
    version: str

    def p_win(self, features: Mapping[str, float | int | None]) -> float: ...


class MlGate:
    """The engine's gate: the predictor the daemon set and what the gate has done since."""

    __slots__ = (
        "fail_open",
        "judged",
        "last_error",
        "load_error",
        "predictor",
        "raised",
        "rejected",
    )

    def __init__(self) -> None:
        self.predictor: WinPredictor | None = None
        self.load_error = ""  # why the daemon could not load the active model ("" if none)
        self.judged = 0
        self.rejected = 0
        self.raised = 0
        self.fail_open = 0
        self.last_error = ""

    def set_predictor(self, predictor: WinPredictor | None, load_error: str = "") -> None:
        self.predictor, self.load_error = predictor, load_error

    def p_win(self, features: Mapping[str, float | int | None]) -> tuple[float, str]:
        """(p_win, "" or why it failed open)."""
        predictor = self.predictor
        if predictor is None:
            why = "load_failed" if self.load_error else "no_model"
        else:
            try:
                p = predictor.p_win(features)
            except Exception as exc:  # fail-open on any inference error (§7.4)
                self.last_error = f"{type(exc).__name__}: {exc}"[:200]
                why = "error"
            else:
                if math.isfinite(p) and 0.0 <= p <= 1.0:
                    return p, ""
                self.last_error = f"p_win out of [0, 1]: {p!r}"
                why = "error"
        self.fail_open += 1
        return FAIL_OPEN_P, why

    def judge(
        self,
        features: Mapping[str, float | int | None],
        res: Resolution,
        *,
        mode: str,
        up_p: float,
    ) -> tuple[str, bool, Resolution]:
        """(the rule's outcome, rejected, the resolution after the gate)."""
        self.judged += 1
        p, failed = self.p_win(features)
        if failed:
            return f"FAIL_OPEN_{failed}", False, res
        threshold = self.predictor.threshold if self.predictor is not None else FAIL_OPEN_P
        shown = f"p{p:.2f}"
        reject = p < threshold
        up = not reject and p >= up_p and res.conviction not in ("HIGH", "NONE")
        if mode == "shadow":
            return (
                ("SHADOW_REJECT_" if reject else "SHADOW_UP_" if up else "SHADOW_") + shown,
                False,
                res,
            )
        if reject:
            self.rejected += 1
            reason = f"ML_GATE_REJECTED_{shown}"
            return reason, True, Resolution(res.direction, "NONE", reason, res.driver)
        if up:
            self.raised += 1
            higher = LADDER[LADDER.index(res.conviction) + 1]
            return (
                f"CONVICTION_UP_{shown}",
                False,
                Resolution(res.direction, higher, res.reason, res.driver),
            )
        return f"ok_{shown}", False, res

    def health(self) -> dict[str, object]:
        predictor = self.predictor
        return {
            "model": predictor.version if predictor is not None else None,
            "threshold": predictor.threshold if predictor is not None else None,
            "load_error": self.load_error,
            "judged": self.judged,
            "rejected": self.rejected,
            "conviction_up": self.raised,
            "fail_open": self.fail_open,
            "last_error": self.last_error,
        }
