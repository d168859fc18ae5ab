"""The ML gate's evaluation (docs/ml.md): the seeded day sample, and the readout of the
evaluation backtests.

``python scripts/ml_gate_eval.py days FIRST LAST K``: K days per calendar month between
FIRST and LAST (inclusive, YYYY-MM-DD), each month's ``random.Random("kbtc-ml-YYYY-MM")
.sample(its days, K)``, printed in rounds (every month's first pick, then every month's
second, ...), so a run stopped early has done the same number of days in every month.

``python scripts/ml_gate_eval.py report --model ID [--since 2026-01-01]``: for the finished
backtest runs starting at or after ``--since``, grouped by parameter-set name (``shadow``,
``gate``): days, trades, win rate, net PnL of the labelled trade-feature rows; then, over
the ``shadow`` runs' trades scored by the model (what the shadow rule recorded), the
shadow comparison (``mlgate.promotion.compare``), the AUC of p_win, the win rate and PnL
above a range of thresholds, and by month and exit reason. One JSON object.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import json
import os
import random
import sys
from pathlib import Path
from typing import Any


def sample_days(first: str, last: str, k: int) -> list[str]:
    months: list[list[str]] = []
    year, month = int(first[:4]), int(first[5:7])
    while (year, month) <= (int(last[:4]), int(last[5:7])):
        days = [
            f"{year:04d}-{month:02d}-{d:02d}"
            for d in range(1, calendar.monthrange(year, month)[1] + 1)
        ]
        days = [d for d in days if first <= d <= last]
        rng = random.Random(f"kbtc-ml-{year:04d}-{month:02d}")
        months.append(rng.sample(days, min(k, len(days))))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return [m[i] for i in range(k) for m in months if i < len(m)]


def report(model_id: int, since: str) -> dict[str, Any]:
    import numpy as np

    from backtests.models import BacktestRun, RunStatus
    from mlgate.models import ModelVersion, TradeFeatures
    from mlgate.promotion import compare
    from mlgate.services import load_predictor

    predictor, error = load_predictor(ModelVersion.objects.get(pk=model_id), below_floor=True)
    if predictor is None:
        raise SystemExit(error)
    start = dt.datetime.fromisoformat(since).replace(tzinfo=dt.UTC)
    runs: dict[str, list[int]] = {}
    for run in BacktestRun.objects.filter(period_start__gte=start, status=RunStatus.DONE):
        runs.setdefault(run.name, []).append(run.pk)
    out: dict[str, Any] = {"model": model_id, "threshold": predictor.threshold, "sets": {}}
    for name, ids in sorted(runs.items()):
        rows = list(TradeFeatures.objects.filter(run__in=ids, label__isnull=False))
        wins = sum(r.label == 1 for r in rows)
        out["sets"][name] = {
            "days": len(ids),
            "trades": len(rows),
            "win_rate": round(wins / len(rows), 4) if rows else None,
            "net_pnl": round(sum(r.pnl or 0 for r in rows) / 1e6, 2),
        }
    shadow = list(TradeFeatures.objects.filter(run__in=runs.get("shadow", []), label__isnull=False))
    out["shadow_comparison"] = compare(shadow, predictor).as_dict()
    p = np.array([predictor.p_win(r.features) for r in shadow])
    won = np.array([r.label == 1 for r in shadow])
    pnl = np.array([(r.pnl or 0) / 1e6 for r in shadow])
    ranks = np.empty(len(p))
    ranks[p.argsort()] = np.arange(1, len(p) + 1)
    pos, neg = int(won.sum()), int((~won).sum())
    out["auc"] = round(float((ranks[won].sum() - pos * (pos + 1) / 2) / (pos * neg)), 4)
    out["thresholds"] = [
        {
            "p_at_least": t,
            "passed": int((p >= t).sum()),
            "win_rate": round(float(won[p >= t].mean()), 4) if (p >= t).any() else None,
            "net_pnl": round(float(pnl[p >= t].sum()), 2),
        }
        for t in (0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, predictor.threshold)
    ]

    def groups(key: Any) -> dict[str, Any]:
        found: dict[str, list[int]] = {}
        for i, r in enumerate(shadow):
            found.setdefault(key(r), []).append(i)
        return {
            k: {
                "trades": len(idx),
                "win_rate": round(float(won[idx].mean()), 4),
                "net_pnl": round(float(pnl[idx].sum()), 2),
                "mean_p": round(float(p[idx].mean()), 4),
                "passed": int((p[idx] >= predictor.threshold).sum()),
            }
            for k, idx in sorted(found.items())
        }

    out["by_month"] = groups(
        lambda r: dt.datetime.fromtimestamp(r.entry_ts_ms / 1000, dt.UTC).strftime("%Y-%m")
    )
    out["by_exit_reason"] = groups(lambda r: r.exit_reason)
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    days = sub.add_parser("days")
    days.add_argument("first")
    days.add_argument("last")
    days.add_argument("k", type=int)
    rep = sub.add_parser("report")
    rep.add_argument("--model", type=int, required=True)
    rep.add_argument("--since", default="2026-01-01")
    args = parser.parse_args(argv)
    if args.command == "days":
        print("\n".join(sample_days(args.first, args.last, args.k)))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kbtc_site.settings")
    import django

    django.setup()
    print(json.dumps(report(args.model, args.since), indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
