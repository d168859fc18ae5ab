"""Reads of the training set: labelled rows by source, period and lane, and the CSV format
``export_features`` writes and ``train_gate --source csv`` reads (one format both ways)."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from typing import IO, Any

from django.db.models import QuerySet

from mlgate.models import ModelVersion, TradeFeatures
from mlgate.training import Row
from trading.engine.features import FEATURE_NAMES

SOURCES = ("paper", "live", "backtest")
ID_COLUMNS = ("position_uid", "lane", "source", "run", "data_source", "ticker", "entry_ts_ms")
OUTCOME = ("exit_ts_ms", "label", "pnl", "mfe", "mae", "exit_reason")
COLUMNS = (*ID_COLUMNS, *FEATURE_NAMES, *OUTCOME)


class CsvError(ValueError):
    """A training CSV that is not the export's format, naming the line."""


def feature_rows(
    *,
    source: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    lanes: Sequence[str] = (),
    labelled: bool = True,
) -> QuerySet[TradeFeatures]:
    rows = TradeFeatures.objects.all()
    if source is not None:
        rows = rows.filter(source=source)
    if start_ms is not None:
        rows = rows.filter(entry_ts_ms__gte=start_ms)
    if end_ms is not None:
        rows = rows.filter(entry_ts_ms__lt=end_ms)
    if lanes:
        rows = rows.filter(lane__in=lanes)
    if labelled:
        rows = rows.filter(label__isnull=False)
    return rows.order_by("entry_ts_ms", "id")


def training_rows(rows: Iterable[TradeFeatures]) -> list[Row]:
    return [Row(r.entry_ts_ms, r.features, int(r.label)) for r in rows if r.label is not None]


def write_csv(rows: Iterable[TradeFeatures], out: IO[str]) -> int:
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for r in rows:
        values: list[Any] = [getattr(r, c) for c in ID_COLUMNS]
        values += [r.features.get(n) for n in FEATURE_NAMES]
        values += [getattr(r, c) for c in OUTCOME]
        writer.writerow(["" if v is None else v for v in values])
        count += 1
    return count


def _number(text: str, column: str, line: int) -> float | None:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise CsvError(f"line {line}: {column} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise CsvError(f"line {line}: {column} is not finite: {text!r}")
    return value


def read_csv(
    stream: IO[str],
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    lanes: Sequence[str] = (),
) -> list[Row]:
    """Labelled rows of an exported CSV (unlabelled ones skipped); a missing column or a
    value that is not a number is refused naming its line."""
    reader = csv.DictReader(stream)
    missing = [
        c
        for c in ("entry_ts_ms", "lane", "label", *FEATURE_NAMES)
        if c not in (reader.fieldnames or ())
    ]
    if missing:
        raise CsvError(f"missing columns: {', '.join(missing)}")
    rows = []
    for record in reader:
        line = reader.line_num
        label = _number(record["label"], "label", line)
        if label is None:
            continue
        if label not in (-1, 0, 1):
            raise CsvError(f"line {line}: label must be -1, 0 or 1, got {record['label']!r}")
        ts = _number(record["entry_ts_ms"], "entry_ts_ms", line)
        if ts is None:
            raise CsvError(f"line {line}: entry_ts_ms is empty")
        if (start_ms is not None and ts < start_ms) or (end_ms is not None and ts >= end_ms):
            continue
        if lanes and record["lane"] not in lanes:
            continue
        features = {n: _number(record[n], n, line) for n in FEATURE_NAMES}
        rows.append(Row(int(ts), features, int(label)))
    return rows


def active_model() -> ModelVersion | None:
    return ModelVersion.objects.filter(active=True).first()
