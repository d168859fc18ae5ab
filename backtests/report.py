"""The HTML report of one stored run (domain.md §4.6): context built here, drawn by
``templates/backtests/report.html``.

The page is one self-contained file (served by the app or written with ``--report``): its
charts are inline SVG computed here and its styles inline, with no script at all, so it
opens the same from disk and under the app's CSP (scripts only from our own files).
Money in the stored metrics is integer micro-dollars; the page shows dollars.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.template.loader import render_to_string

from backtests.models import BacktestRun, BacktestTrade

FIRST_TRADES = 200  # §4.6: the report lists the first 200 trades
WIDTH, HEIGHT, PAD = 720, 220, 36
HOLD_BINS = 12


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    label: str
    title: str
    negative: bool = False


def _dollars(micros: float | None) -> str:
    if micros is None:
        return "–"
    value = micros / 1_000_000
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def _pct(fraction: float | None, digits: int = 1) -> str:
    return "–" if fraction is None else f"{fraction * 100:.{digits}f}%"


def _num(value: float | None, digits: int = 2) -> str:
    return "∞" if value is None else f"{value:.{digits}f}"


def _scale(value: float, low: float, high: float, out_low: float, out_high: float) -> float:
    if high == low:
        return (out_low + out_high) / 2
    return out_low + (value - low) / (high - low) * (out_high - out_low)


def equity_chart(equity: Sequence[Sequence[int]], bankroll: int, start_ms: int) -> dict[str, Any]:
    """Polyline of the bankroll after each close (from the starting bankroll at the period's
    start) and the drawdown below its running peak, as a filled area under the axis."""
    points = [(start_ms, bankroll), *((int(ts), int(value)) for ts, value in equity)]
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    low, high = min(ys), max(ys)
    top, mid = PAD / 2, HEIGHT * 0.65
    line = []
    area = [f"{PAD:.1f},{mid + 8:.1f}"]
    peak, worst = 0, 0.0
    drawdowns = []
    for _ts, value in points:
        peak = max(peak, value)
        dd = (peak - value) / peak if peak > 0 else 0.0
        drawdowns.append(dd)
        worst = max(worst, dd)
    for (ts, value), dd in zip(points, drawdowns, strict=True):
        x = _scale(ts, xs[0], xs[-1], PAD, WIDTH - PAD / 2) if len(points) > 1 else PAD
        line.append(f"{x:.1f},{_scale(value, low, high, mid, top):.1f}")
        y = _scale(dd, 0.0, worst or 1.0, mid + 8, HEIGHT - PAD / 2)
        area.append(f"{x:.1f},{y:.1f}")
    area.append(f"{x:.1f},{mid + 8:.1f}")
    return {
        "line": " ".join(line),
        "drawdown": " ".join(area),
        "high": _dollars(high),
        "low": _dollars(low),
        "worst": _pct(worst),
        "mid": mid,
        "top": top,
    }


def value_bars(items: Sequence[tuple[str, float, str]], *, signed: bool) -> list[Bar]:
    """One bar per (label, value, title); signed bars grow up or down from a zero line."""
    if not items:
        return []
    values = [v for _, v, _ in items]
    high = max(max(values), 0.0)
    low = min(min(values), 0.0) if signed else 0.0
    span = (high - low) or 1.0
    inner = HEIGHT - PAD
    zero = PAD / 2 + inner * high / span
    step = (WIDTH - PAD * 1.5) / len(items)
    bars = []
    for i, (label, value, title) in enumerate(items):
        h = inner * abs(value) / span
        y = zero - h if value >= 0 else zero
        bars.append(Bar(PAD + i * step, y, max(step * 0.8, 1.0), h, label, title, value < 0))
    return bars


def hold_histogram(holds: Sequence[float]) -> list[Bar]:
    if not holds:
        return []
    low, high = min(holds), max(holds)
    width = (high - low) / HOLD_BINS or 1.0
    counts = [0] * HOLD_BINS
    for hold in holds:
        counts[min(int((hold - low) / width), HOLD_BINS - 1)] += 1
    return value_bars(
        [
            (
                f"{low + i * width:.0f}s",
                float(n),
                f"{low + i * width:.0f}–{low + (i + 1) * width:.0f} s: {n}",
            )
            for i, n in enumerate(counts)
        ],
        signed=False,
    )


def _groups(groups: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "name": name,
            "trades": str(g["trades"]),
            "pnl": _dollars(g["pnl"]),
            "win_rate": _pct(g["win_rate"]),
            "avg_pnl": _pct(g["avg_pnl_frac"], 2),
            "share": _pct(g["share_of_pnl"]),
            "negative": g["pnl"] < 0,
        }
        for name, g in groups.items()
    ]


def signal_accuracy_context(accuracy: dict[str, Any] | None) -> dict[str, Any] | None:
    """Bars of each signal's correct / incorrect / neutral against the contracts'
    settlements, and a table of both bases (``metrics.signal_accuracy``); None for a run
    stored before the figures existed."""
    if not accuracy:
        return None
    rows, items = [], []
    for signal in ("OBI", "ROC"):
        for basis, label in (("settlement", "settlement"), ("trade", "trade result")):
            counts = accuracy[signal][basis]
            rows.append(
                {
                    "signal": signal,
                    "basis": label,
                    "correct": counts["correct"],
                    "incorrect": counts["incorrect"],
                    "neutral": counts["neutral"],
                    "unsettled": counts.get("unsettled", "–"),
                    "accuracy": _pct(counts["accuracy"]),
                }
            )
        on_settlement = accuracy[signal]["settlement"]
        for verdict in ("correct", "incorrect", "neutral"):
            n = on_settlement[verdict]
            items.append((f"{signal} {verdict}", float(n), f"{signal} {verdict}: {n}"))
    return {"rows": rows, "bars": value_bars(items, signed=False)}


def report_context(run: BacktestRun) -> dict[str, Any]:
    m, attribution = run.metrics, run.attribution
    bankroll = int(run.bankroll * 1_000_000)
    trades = list(BacktestTrade.objects.filter(run=run).order_by("closed_at", "id"))
    context: dict[str, Any] = {
        "run": run,
        "width": WIDTH,
        "height": HEIGHT,
        "pad": PAD,
        "data": run.data,
        "params": sorted(run.params.items()),
        "first_trades": trades[:FIRST_TRADES],
        "trade_count": len(trades),
    }
    if not m:  # running or failed: no figures yet
        return context
    holds = [(t.closed_at - t.opened_at).total_seconds() for t in trades]
    reasons = m["exit_reasons"]
    margin = m["win_rate"] - m["break_even_win_rate"]
    context.update(
        red_flags=m["red_flags"],
        checks=sorted(m["thresholds"]["checks"].items()),
        passes=m["thresholds"]["passes_minimum"],
        kpis=[
            ("Return", _pct(m["total_return"])),
            ("Net PnL", _dollars(m["net_pnl"])),
            ("Fees", _dollars(m["fees"])),
            ("Trades", str(m["trades"])),
            ("Win rate", _pct(m["win_rate"])),
            ("Break-even WR", _pct(m["break_even_win_rate"])),
            ("WR margin", _pct(margin)),
            ("Sharpe", _num(m["sharpe"])),
            ("Sortino", _num(m["sortino"])),
            ("Max drawdown", _pct(m["max_drawdown"])),
            ("Profit factor", _num(m["profit_factor"])),
            ("Recovery", _num(m["recovery_factor"])),
            (
                "Avg hold",
                "–" if m["hold_seconds"]["mean"] is None else f"{m['hold_seconds']['mean']:.0f} s",
            ),
        ],
        equity=equity_chart(run.equity, bankroll, int(run.period_start.timestamp() * 1000)),
        pnl_bars=value_bars(
            [
                (str(i + 1), float(t.pnl), f"#{i + 1} {t.ticker} {t.exit_reason}: ${t.pnl:,.2f}")
                for i, t in enumerate(trades)
            ],
            signed=True,
        ),
        reason_bars=value_bars(
            [
                (name, float(n), f"{name}: {n} ({n / m['trades']:.0%})")
                for name, n in reasons.items()
            ],
            signed=False,
        ),
        regime_bars=value_bars(
            [
                (name, g["win_rate"], f"{name}: {g['win_rate']:.0%} of {g['trades']}")
                for name, g in attribution["by_regime"].items()
            ],
            signed=False,
        ),
        hold_bars=hold_histogram(holds),
        signal_accuracy=signal_accuracy_context(m.get("signal_accuracy")),
        by_conviction=_groups(attribution["by_conviction"]),
        by_session=_groups(attribution["by_session"]),
        by_direction=_groups(attribution["by_direction"]),
        execution={
            "fees": _dollars(attribution["execution"]["fees"]),
            "theoretical": _dollars(attribution["execution"]["theoretical_pnl"]),
            "share": _pct(attribution["execution"]["fees_share_of_gross"]),
        },
    )
    return context


def render_report(run: BacktestRun) -> str:
    return render_to_string("backtests/report.html", report_context(run))


def write_report(run: BacktestRun, path: Path) -> None:
    """Written to a temporary name beside ``path`` and renamed, so a reader never sees half."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(render_report(run), encoding="utf-8")
    temporary.replace(path)
