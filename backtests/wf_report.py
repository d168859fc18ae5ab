"""The HTML report of a walk-forward study (domain.md §4.6), drawn by
``templates/backtests/walk_forward_report.html`` in the backtest report's style: one
self-contained file, inline SVG, no script. Window table (gap > 1 highlighted), train vs
test Sharpe and gap per window, parameter stability, diagnosis, recommendation, final
parameters and the data it ran on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.template.loader import render_to_string

from backtests.models import WalkForwardStudy
from backtests.report import HEIGHT, PAD, WIDTH, value_bars
from marketdata.recorder.rows import ms_to_utc


def report_context(study: WalkForwardStudy) -> dict[str, Any]:
    result = study.result or {}
    rows = []
    for row in result.get("windows", []):
        rows.append(
            {
                **row,
                "train_from": ms_to_utc(row["train_start"]),
                "test_from": ms_to_utc(row["train_end"]),
                "test_to": ms_to_utc(row["test_end"]),
                "high_gap": (row.get("gap") or 0) > 1.0,
            }
        )
    kept = [r for r in rows if not r["dropped"]]
    sharpe_bars = []
    for r in kept:
        sharpe_bars.append((f"w{r['index']} train", r["train_sharpe"], "train Sharpe"))
        sharpe_bars.append((f"w{r['index']} test", r["test_sharpe"], "test Sharpe"))
    return {
        "study": study,
        "result": result,
        "rows": rows,
        "diagnosis": result.get("diagnosis", {}),
        "stability": sorted(result.get("stability", {}).items()),
        "final_params": sorted(result.get("final_params", {}).items()),
        "data": result.get("data", {}),
        "width": WIDTH,
        "height": HEIGHT,
        "pad": PAD,
        "sharpe_bars": value_bars(
            [(label, value, f"{label}: {value:.2f}") for label, value, _ in sharpe_bars],
            signed=True,
        ),
        "gap_bars": value_bars(
            [(f"w{r['index']}", r["gap"], f"window {r['index']} gap {r['gap']:.2f}") for r in kept],
            signed=True,
        ),
    }


def render_wf_report(study: WalkForwardStudy) -> str:
    return render_to_string("backtests/walk_forward_report.html", report_context(study))


def write_wf_report(study: WalkForwardStudy, path: Path) -> None:
    Path(path).write_text(render_wf_report(study))
