"""docs/strategy.md's calibration tables (issue #20), from what the research commands stored.

``python scripts/calibration.py study STUDY_ID`` (with the project's ``DATABASE_URL``) prints
one JSON line per parameter set of a finished walk-forward study: its values, the mean train
objective the sampler was told, and per window its train and test Sharpe and trade count and
its test net PnL, cut from the set's one pass as ``backtests.walkforward`` cuts them; the
lines come best mean test Sharpe first.

``python scripts/calibration.py runs RUN_ID [RUN_ID ...]`` groups the given ``BacktestRun``
rows by set name (several passes over separate stretches, each a set's run) and prints, per
set, one JSON line: trades, win rate, net PnL and fees (dollars, summed over the passes),
Sharpe of the pooled per-trade returns (``pnl_pct``, annualised as ``backtests.metrics``
does: √(trades per day × 365), the days being the passes' lengths added up), exit-reason
counts, median hold, the share of exits within 5 s of the set's ``min_hold_s`` and, over
the trades whose contract settled, the mean price paid against the share that settled the
trade's way; then one line per set and pass (the stretch's own figures).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kbtc_site.settings")

import django

django.setup()

from backtests.models import BacktestRun, BacktestTrade, WalkForwardStudy  # noqa: E402
from backtests.study import StudyRequest  # noqa: E402
from backtests.walkforward import Trade, cut_windows, lane_windows, train_score  # noqa: E402

NEAR_MIN_HOLD_S = 5.0


def figures(trades: list[BacktestTrade], *, days: float, min_hold_s: int) -> dict[str, Any]:
    returns = [t.pnl_pct for t in trades]
    holds = sorted((t.closed_at - t.opened_at).total_seconds() for t in trades)
    count = len(trades)
    stdev = statistics.stdev(returns) if count >= 2 else 0.0
    annualise = math.sqrt(max(count / days * 365, 1)) if days > 0 else 1.0
    return {
        "trades": count,
        "win_rate": round(sum(r > 0 for r in returns) / count, 4) if count else 0.0,
        "net_pnl": float(sum(t.pnl for t in trades)),
        "fees": float(sum(t.fees for t in trades)),
        "sharpe": round(statistics.fmean(returns) / stdev * annualise, 2) if stdev else 0.0,
        "mean_pnl_pct": round(statistics.fmean(returns), 4) if count else 0.0,
        "exit_reasons": dict(Counter(t.exit_reason for t in trades).most_common()),
        "median_hold_s": round(statistics.median(holds), 1) if holds else None,
        "near_min_hold": (
            round(sum(abs(h - min_hold_s) <= NEAR_MIN_HOLD_S for h in holds) / count, 4)
            if count
            else 0.0
        ),
        **settlement_edge(trades),
    }


def settlement_edge(trades: list[BacktestTrade]) -> dict[str, Any]:
    """Over the trades whose contract settled in the data: the mean price paid for the side
    bought (the YES price of a long, the NO price of a short: the chance the price implied)
    and the share that settled that side's way (what a hold to settlement would have won)."""
    settled = [t for t in trades if t.contract_result in ("yes", "no")]
    if not settled:
        return {"settled": 0, "implied_p": None, "settled_right": None}
    paid = [t.entry_price if t.direction == "LONG" else 1 - t.entry_price for t in settled]
    right = [(t.direction == "LONG") == (t.contract_result == "yes") for t in settled]
    return {
        "settled": len(settled),
        "implied_p": round(float(sum(paid)) / len(settled), 4),
        "settled_right": round(sum(right) / len(settled), 4),
    }


def study_sets(study_id: int) -> int:
    study = WalkForwardStudy.objects.filter(pk=study_id).first()
    if study is None or study.status != "done":
        print(f"study {study_id}: none, or not done", file=sys.stderr)
        return 1
    request = StudyRequest.from_dict(study.request)
    windows = cut_windows(
        request.start_ts,
        request.end_ts,
        train_days=request.train_days,
        test_days=request.test_days,
        step_days=request.step_days,
    )
    values: dict[int, dict[str, Any]] = {}
    trades: dict[int, list[Trade]] = defaultdict(list)
    for task in study.tasks.filter(status="done"):
        for member in task.sets:
            number = int(member["trial"])
            values[number] = member["values"]
            trades[number] += [Trade.from_row(r) for r in task.result.get(str(number), [])]
    rows: list[dict[str, Any]] = []
    for number, chosen in values.items():
        ordered = sorted(trades[number], key=lambda t: (t.ts, t.opened_ts))
        per_window = lane_windows(ordered, windows, bankroll=request.bankroll)
        tests = [w["test"]["sharpe"] for w in per_window]
        rows.append(
            {
                "trial": number,
                "values": chosen,
                "train_score": round(
                    train_score(
                        per_window, objective=request.objective, min_trades=request.min_trades
                    ),
                    2,
                ),
                "mean_test_sharpe": round(statistics.fmean(tests), 2),
                "windows": [
                    {
                        "train_sharpe": round(w["train"]["sharpe"], 2),
                        "train_trades": w["train"]["trades"],
                        "test_sharpe": round(w["test"]["sharpe"], 2),
                        "test_trades": w["test"]["trades"],
                        "test_net_pnl": w["test"]["net_pnl"] / 1_000_000,
                    }
                    for w in per_window
                ],
            }
        )
    for row in sorted(rows, key=lambda r: -float(r["mean_test_sharpe"])):
        print(json.dumps(row))
    return 0


def pooled_runs(ids: list[int]) -> int:
    runs = list(BacktestRun.objects.filter(pk__in=ids).order_by("pk"))
    missing = sorted(set(ids) - {r.pk for r in runs})
    if missing:
        print(f"no such runs: {missing}", file=sys.stderr)
        return 1
    unfinished = [r.pk for r in runs if r.status != "done"]
    if unfinished:
        print(f"runs not done: {unfinished}", file=sys.stderr)
        return 1
    by_name: dict[str, list[BacktestRun]] = defaultdict(list)
    for run in runs:
        by_name[run.name].append(run)
    per_pass = []
    for name, group in by_name.items():
        pooled: list[BacktestTrade] = []
        days = 0.0
        for run in group:
            trades = list(BacktestTrade.objects.filter(run=run).order_by("closed_at", "id"))
            length = (run.period_end - run.period_start).total_seconds() / 86_400
            pooled += trades
            days += length
            period = [run.period_start.date().isoformat(), run.period_end.date().isoformat()]
            per_pass.append(
                {"set": name, "run": run.pk, "period": period}
                | figures(trades, days=length, min_hold_s=int(run.params["min_hold_s"]))
            )
        row = {"set": name, "runs": [r.pk for r in group], "days": days}
        min_hold = int(group[0].params["min_hold_s"])
        print(json.dumps(row | figures(pooled, days=days, min_hold_s=min_hold)))
    for row in per_pass:
        print(json.dumps(row))
    return 0


def main(argv: list[str]) -> int:
    ids = argv[1:]
    command = argv[0] if argv else ""
    usable = (command == "runs" and ids) or (command == "study" and len(ids) == 1)
    if not usable or not all(a.isdigit() for a in ids):
        print("usage: calibration.py study STUDY_ID | runs RUN_ID [RUN_ID ...]", file=sys.stderr)
        return 2
    if argv[0] == "study":
        return study_sets(int(ids[0]))
    return pooled_runs([int(a) for a in ids])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
