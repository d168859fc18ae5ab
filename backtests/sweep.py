"""The hard-stop sweep with its counterfactual (issue #20, "Sweeps").

Every stop value runs as a research lane of ONE pass beside the baseline (the defaults, the
stored overrides or a parameter file: the same parameters but ``stop_loss_frac``), so all
lanes see the same market. For each stop the sweep reports its trades, win rate, net PnL and
fees, and against the baseline:

- the **changed exits**: trades entered at the same time (same entry ms, ticker and
  direction) whose exit reason or exit time differ, with each one's PnL difference;
- the trades only one side made (a stop that exits earlier frees the lane for another entry;
  a later exit blocks one), and the knock-on PnL of matched trades whose exit did not change
  (their size follows the bankroll, which earlier differences moved);
- the net PnL difference, which is the sum of those three parts.

Only trades that count are compared (quarantined ones had their bankroll effect reversed).
The profit target is ``stop_loss_frac × profit_target_mult`` (and the short stop
``× short_stop_loss_mult``), as the parameters define them: a stop value moves its target too.
``stop_sweep`` stores the pass's runs (one batch) through ``runner.backtest_run``; the
comparison itself (``counterfactual``) is pure; the HTML report reuses ``report.py``'s bars.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.template.loader import render_to_string

from backtests.driver import ParamSet, iso_ms
from backtests.report import HEIGHT, PAD, WIDTH, _dollars, value_bars
from trading.engine.params import ParamError, Params
from trading.engine.records import PositionClosed

if TYPE_CHECKING:
    from backtests.runner import PassOutcome
    from backtests.sources import Source

STOP_PARAM = "stop_loss_frac"
BASELINE = "baseline"
MAX_STOPS = 24  # lanes of one pass; more is a walk-forward study (backtests/walkforward.py)
SHOWN_CHANGES = 200  # changed exits listed per stop in the report


class SweepError(ValueError):
    """A sweep that cannot run; the message names the value and what it expected."""


def parse_stops(text: str) -> list[float]:
    """``"0.01,0.02,0.03"`` → the stop fractions, in the given order (checked for bounds by
    ``stop_sets``)."""
    stops = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise SweepError(f"--stops: an empty value in {text!r}")
        try:
            value = float(part)
        except ValueError:
            raise SweepError(f"--stops: not a number: {part!r}") from None
        if not math.isfinite(value):
            raise SweepError(f"--stops: not a finite number: {part!r}")
        stops.append(value)
    if len(set(stops)) != len(stops):
        raise SweepError(f"--stops: a value is repeated in {text!r}")
    if len(stops) > MAX_STOPS:
        raise SweepError(f"--stops: at most {MAX_STOPS} values in one pass, got {len(stops)}")
    return stops


def stop_name(stop: float) -> str:
    return f"stop {stop!r}"


def stop_sets(baseline: Params, stops: Sequence[float]) -> list[ParamSet]:
    """The baseline first, then one set per stop: the baseline with that ``stop_loss_frac``.
    A stop outside the parameter's bounds raises ``SweepError`` naming it."""
    if not stops:
        raise SweepError("--stops: give at least one stop value")
    sets = [ParamSet(BASELINE, baseline)]
    for stop in stops:
        try:
            sets.append(ParamSet(stop_name(stop), baseline.with_overrides({STOP_PARAM: stop})))
        except ParamError as exc:
            raise SweepError(f"--stops {stop!r}: {exc}") from exc
    return sets


@dataclass(frozen=True, slots=True)
class ExitChange:
    """One trade both lanes entered at the same moment but left differently."""

    ticker: str
    direction: str
    opened_ts: int
    baseline_reason: str
    baseline_exit_ts: int
    baseline_pnl: int  # micro-dollars
    reason: str
    exit_ts: int
    pnl: int

    @property
    def pnl_diff(self) -> int:
        return self.pnl - self.baseline_pnl

    def to_dict(self) -> dict[str, Any]:
        return {
            "ticker": self.ticker,
            "direction": self.direction,
            "opened_ts": self.opened_ts,
            "baseline": {
                "reason": self.baseline_reason,
                "exit_ts": self.baseline_exit_ts,
                "pnl": self.baseline_pnl,
            },
            "stop": {"reason": self.reason, "exit_ts": self.exit_ts, "pnl": self.pnl},
            "pnl_diff": self.pnl_diff,
        }


def _key(trade: PositionClosed) -> tuple[int, str, str]:
    return trade.opened_ts, trade.ticker, trade.direction


def counterfactual(
    baseline: Sequence[PositionClosed], variant: Sequence[PositionClosed]
) -> dict[str, Any]:
    """The variant's trades against the baseline's, matched by entry (module docstring).
    Money in integer micro-dollars; ``pnl_diff`` = ``changed_pnl_diff`` +
    ``unchanged_pnl_diff`` + ``only_variant_pnl`` − ``only_baseline_pnl``."""
    base_by = {_key(t): t for t in baseline}
    variant_by = {_key(t): t for t in variant}
    if len(base_by) != len(baseline) or len(variant_by) != len(variant):
        raise ValueError("two trades of one lane share an entry time, ticker and direction")
    changes: list[ExitChange] = []
    unchanged_diff = 0
    for key, trade in variant_by.items():
        base = base_by.get(key)
        if base is None:
            continue
        if (base.reason, base.ts) != (trade.reason, trade.ts):
            changes.append(
                ExitChange(
                    trade.ticker,
                    trade.direction,
                    trade.opened_ts,
                    base.reason,
                    base.ts,
                    base.pnl,
                    trade.reason,
                    trade.ts,
                    trade.pnl,
                )
            )
        else:
            unchanged_diff += trade.pnl - base.pnl
    only_base = [t for k, t in base_by.items() if k not in variant_by]
    only_variant = [t for k, t in variant_by.items() if k not in base_by]
    changes.sort(key=lambda c: c.opened_ts)
    return {
        "matched": len(variant_by) - len(only_variant),
        "changed": changes,
        "changed_exits": len(changes),
        "changed_pnl_diff": sum(c.pnl_diff for c in changes),
        "unchanged_pnl_diff": unchanged_diff,
        "only_baseline": len(only_base),
        "only_baseline_pnl": sum(t.pnl for t in only_base),
        "only_variant": len(only_variant),
        "only_variant_pnl": sum(t.pnl for t in only_variant),
        "pnl_diff": sum(t.pnl for t in variant) - sum(t.pnl for t in baseline),
    }


@dataclass(frozen=True, slots=True)
class SweepOutcome:
    outcome: PassOutcome
    baseline: Params
    stops: list[float]
    # per stop, in order: the counterfactual against the baseline
    comparisons: list[dict[str, Any]]
    start_ts: int
    end_ts: int

    @property
    def baseline_stop(self) -> float:
        return self.baseline.stop_loss_frac

    @property
    def baseline_params(self) -> list[tuple[str, Any]]:
        """The parameters a stop value moves with it, and the baseline's hash."""
        return [
            (STOP_PARAM, self.baseline.stop_loss_frac),
            ("short_stop_loss_mult", self.baseline.short_stop_loss_mult),
            ("profit_target_mult", self.baseline.profit_target_mult),
            ("params_hash", self.baseline.params_hash()),
        ]


def stop_sweep(
    source: Source,
    baseline: Params,
    stops: Sequence[float],
    *,
    bankroll: int,
    latency_ms: int,
    start_ts: int,
    end_ts: int,
    max_gap_ms: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> SweepOutcome:
    """One pass (baseline + a research lane per stop), stored as one batch of runs."""
    from backtests.runner import backtest_run

    sets = stop_sets(baseline, stops)
    outcome = backtest_run(
        source,
        sets,
        lane="paper",
        bankroll=bankroll,
        latency_ms=latency_ms,
        start_ts=start_ts,
        end_ts=end_ts,
        max_gap_ms=max_gap_ms,
        on_progress=on_progress,
    )
    base = outcome.runs[0].sink.counted_trades
    comparisons = [counterfactual(base, run.sink.counted_trades) for run in outcome.runs[1:]]
    return SweepOutcome(outcome, baseline, list(stops), comparisons, start_ts, end_ts)


def _run_row(run: Any, stop: float) -> dict[str, Any]:
    m = run.metrics
    return {
        "run_id": run.run_id,
        "stop": stop,
        "trades": m["trades"],
        "win_rate": m["win_rate"],
        "net_pnl": m["net_pnl"] / 1_000_000,
        "fees": m["fees"] / 1_000_000,
        "exit_reasons": m["exit_reasons"],
    }


def sweep_summary(sweep: SweepOutcome, *, changes: int = SHOWN_CHANGES) -> dict[str, Any]:
    """Plain JSON (money in dollars): the data, the baseline's figures and each stop's with
    its counterfactual (the first ``changes`` changed exits listed)."""
    outcome = sweep.outcome
    baseline = _run_row(outcome.runs[0], sweep.baseline_stop)
    rows = []
    for run, stop, comparison in zip(outcome.runs[1:], sweep.stops, sweep.comparisons, strict=True):
        row = _run_row(run, stop)
        row.update(
            {
                "pnl_diff": comparison["pnl_diff"] / 1_000_000,
                "changed_exits": comparison["changed_exits"],
                "changed_pnl_diff": comparison["changed_pnl_diff"] / 1_000_000,
                "unchanged_pnl_diff": comparison["unchanged_pnl_diff"] / 1_000_000,
                "matched": comparison["matched"],
                "only_baseline": comparison["only_baseline"],
                "only_baseline_pnl": comparison["only_baseline_pnl"] / 1_000_000,
                "only_variant": comparison["only_variant"],
                "only_variant_pnl": comparison["only_variant_pnl"] / 1_000_000,
                "changes": [_change_dollars(c) for c in comparison["changed"][:changes]],
            }
        )
        rows.append(row)
    return {
        "batch": str(outcome.batch),
        "param": STOP_PARAM,
        "baseline": baseline,
        "stops": rows,
        "data": {**outcome.data, "sha256": outcome.data_sha256},
        "events": outcome.events,
        "seconds": round(outcome.seconds, 3),
    }


def _change_dollars(change: ExitChange) -> dict[str, Any]:
    row = change.to_dict()
    row["baseline"]["pnl"] /= 1_000_000
    row["stop"]["pnl"] /= 1_000_000
    row["pnl_diff"] /= 1_000_000
    return row


def _ms_utc(ts: int) -> str:
    return iso_ms(ts).replace("T", " ").removesuffix("Z")


def sweep_report_context(sweep: SweepOutcome) -> dict[str, Any]:
    """What ``templates/backtests/stop_sweep.html`` draws (report.py's bars and helpers)."""
    result = sweep_summary(sweep)
    outcome = sweep.outcome
    baseline = result["baseline"]
    lanes = [("baseline", baseline), *((f"stop {r['stop']}", r) for r in result["stops"])]
    net_bars = value_bars(
        [(name, row["net_pnl"], f"{name}: net ${row['net_pnl']:,.2f}") for name, row in lanes],
        signed=True,
    )
    diff_bars = value_bars(
        [
            (f"{r['stop']}", r["pnl_diff"], f"stop {r['stop']}: {r['pnl_diff']:+,.2f} $")
            for r in result["stops"]
        ],
        signed=True,
    )
    stops = []
    for row, comparison in zip(result["stops"], sweep.comparisons, strict=True):
        changes = comparison["changed"][:SHOWN_CHANGES]
        stops.append(
            {
                **row,
                "change_rows": [
                    {
                        "ticker": c.ticker,
                        "direction": c.direction,
                        "opened": _ms_utc(c.opened_ts),
                        "baseline_reason": c.baseline_reason,
                        "baseline_exit": _ms_utc(c.baseline_exit_ts),
                        "baseline_pnl": _dollars(c.baseline_pnl),
                        "reason": c.reason,
                        "exit": _ms_utc(c.exit_ts),
                        "pnl": _dollars(c.pnl),
                        "diff": _dollars(c.pnl_diff),
                        "negative": c.pnl_diff < 0,
                    }
                    for c in changes
                ],
                "more_changes": comparison["changed_exits"] - len(changes),
            }
        )
    return {
        "result": result,
        "data": outcome.data,
        "data_sha256": outcome.data_sha256,
        "baseline": baseline,
        "stops": stops,
        "net_bars": net_bars,
        "diff_bars": diff_bars,
        "width": WIDTH,
        "height": HEIGHT,
        "pad": PAD,
        "period": f"{_ms_utc(sweep.start_ts)} → {_ms_utc(sweep.end_ts)} UTC",
        "baseline_params": sweep.baseline_params,
    }


def render_sweep_report(sweep: SweepOutcome) -> str:
    return render_to_string("backtests/stop_sweep.html", sweep_report_context(sweep))


def write_sweep_report(sweep: SweepOutcome, path: Path) -> None:
    """Written to a temporary name beside ``path`` and renamed, so a reader never sees half."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(render_sweep_report(sweep), encoding="utf-8")
    temporary.replace(path)
