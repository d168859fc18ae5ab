"""Where a backtest's events come from, with what describes them and their hash.

Three sources, each giving the events of ``[start, end)`` in the order to replay them, the
warm-up candles (15-minute bars that closed before ``start``: data older than the start
only) and a label saying what the run ran on:

- ``journal``: what the recorder stored (``marketdata.recorder.reader``), in consumption
  order; replays a paper session exactly.
- ``history``: 1-minute BTC bars (a Binance kline file, or the candles table) and the
  simulator's KXBTC15M books, trades and lifecycle generated from the path so far only
  (``marketdata.sim.stream``): **simulated books**, said in every label. Settlement is the
  simulator's 60-second average unless a settled-markets file gives real results.
- ``archive``: daily archive files (``marketdata.archive``), the fast way to re-run a stream.

Errors are ``SourceError`` with a message for the operator: an empty period, a hole in the
data (named, with its times), a file that does not cover the period.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import operator
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backtests.driver import iso_ms
from marketdata.archive.store import (
    ArchiveError,
    day_of,
    day_path,
    read_event_batches,
    stream_sha256,
)
from marketdata.model.candles import Candle
from marketdata.model.events import Event, event_to_dict
from marketdata.sim.prices import MINUTE_MS, MinuteBar, PriceHistory, history_candles, load_history
from marketdata.sim.stream import LOOKAHEAD_MS, WARMUP_DAYS, generate_batches
from trading.runtime.warmup import table_candles

WARMUP_CANDLES = 60  # what the daemon warms up with (DaemonConfig.warmup_candles)
SIMULATED_SETTLEMENT = "simulated 60 s average"


class SourceError(ValueError):
    """The data cannot serve the requested period; the message says why and where."""


@dataclass
class Source:
    kind: str
    data: dict[str, Any]  # what the run ran on, for every output
    warmup: list[Candle]
    events: Callable[[], Iterator[Event]]
    sha256: Callable[[], str]  # known once the events were read (the journal hashes them)


# --- journal ---------------------------------------------------------------------------


def journal_source(start_ts: int, end_ts: int) -> Source:
    """Recorded events; holes in the journal stop the pass in ``driver.run_pass``."""
    from marketdata.models import RecordedEvent
    from marketdata.recorder.reader import iter_events
    from marketdata.recorder.rows import ms_to_utc

    stored = RecordedEvent.objects.filter(ts__gte=ms_to_utc(start_ts), ts__lt=ms_to_utc(end_ts))
    if not stored.exists():
        raise SourceError(f"the journal has no events from {iso_ms(start_ts)} to {iso_ms(end_ts)}")
    digest = hashlib.sha256()

    def events() -> Iterator[Event]:
        for event in iter_events(start_ts, end_ts):
            digest.update(json.dumps([event.kind, event_to_dict(event)]).encode())
            yield event

    return Source(
        kind="journal",
        data={
            "source": "journal",
            "books": "recorded",
            "settlement": "recorded",
            "warmup": f"{WARMUP_CANDLES} 15-minute candles before the start, candles table",
        },
        warmup=table_candles(start_ts, count=WARMUP_CANDLES),
        events=events,
        sha256=digest.hexdigest,
    )


# --- history ---------------------------------------------------------------------------


def history_source(
    start_ts: int,
    end_ts: int,
    *,
    history: Path | None,
    seed: int,
    settled: Path | None = None,
) -> Source:
    """Simulated books over real 1-minute bars: ``history`` is a kline file, None the
    candles table. Bars from a week before the start (the simulator's volatility warm-up,
    the warm-up candles) to two hours after the end (markets are listed an hour ahead)."""
    begin = start_ts - WARMUP_DAYS * 86_400_000
    until = end_ts + LOOKAHEAD_MS
    if history is None:
        prices = _table_history(begin, until)
        where = "candles table (1-minute bars)"
    else:
        prices = _file_history(history, begin, until)
        where = str(history)
    if not prices.covers(start_ts, end_ts):
        raise SourceError(
            f"{where} covers {iso_ms(prices.first_ts)} to {iso_ms(prices.last_ts + MINUTE_MS)}, "
            f"not the period {iso_ms(start_ts)} to {iso_ms(end_ts)}"
        )
    settlement, generate_options = _settlement(settled)
    minutes = -(-(end_ts - start_ts) // MINUTE_MS)
    digest = hashlib.sha256()
    digest.update(json.dumps({"seed": seed, "settled": settlement}).encode())
    for bar in prices.range(begin, until):
        digest.update(
            f"{bar.ts},{bar.open!r},{bar.high!r},{bar.low!r},{bar.close!r},{bar.volume!r}\n".encode()
        )
    sha = digest.hexdigest()

    def events() -> Iterator[Event]:
        batches = generate_batches(seed, start_ts, minutes, prices, **generate_options)
        return itertools.chain.from_iterable(_before(batches, end_ts))

    return Source(
        kind="history",
        data={
            "source": "history",
            "prices": where,
            "books": f"simulated books (marketdata.sim maker, seed {seed})",
            "settlement": settlement,
            "warmup": f"{WARMUP_CANDLES} 15-minute candles before the start, from {where}",
        },
        warmup=history_candles(prices, start_ts, count=WARMUP_CANDLES),
        events=events,
        sha256=lambda: sha,
    )


def _before(batches: Iterable[list[Event]], end_ts: int) -> Iterator[list[Event]]:
    """The events of a stream in time order (a batch at a time) before ``end_ts``."""
    for batch in batches:
        if batch and batch[-1].ts >= end_ts:
            yield batch[: bisect_left(batch, end_ts, key=_event_ts)]
            return
        yield batch


_event_ts = operator.attrgetter("ts")


def _file_history(path: Path, begin: int, until: int) -> PriceHistory:
    if not Path(path).is_file():
        raise SourceError(f"no such history file: {path}")
    try:
        return load_history(str(path), begin, until)
    except ValueError as exc:
        raise SourceError(f"{path}: {_gap_message(str(exc))}") from exc


def _gap_message(text: str) -> str:
    """The simulator's 'history is not contiguous at <ms>' with the time spelled out."""
    prefix = "history is not contiguous at "
    if text.startswith(prefix) and text[len(prefix) :].isdigit():
        return f"data gap: no 1-minute bar before {iso_ms(int(text[len(prefix) :]))}"
    return text


def _table_history(begin: int, until: int) -> PriceHistory:
    from marketdata.models import Candle as CandleRow
    from marketdata.recorder.rows import ms_to_utc, utc_to_ms

    rows = (
        CandleRow.objects.filter(
            interval_s=60, open_time__gte=ms_to_utc(begin), open_time__lt=ms_to_utc(until)
        )
        .order_by("open_time", "source")
        .values_list("open_time", "open", "high", "low", "close", "volume")
    )
    bars: dict[int, MinuteBar] = {}
    for when, o, h, low, c, v in rows.iterator():
        ts = utc_to_ms(when)
        if ts not in bars:  # two sources of one minute: the first by name
            bars[ts] = MinuteBar(ts, float(o), float(h), float(low), float(c), float(v))
    if not bars:
        raise SourceError(
            f"the candles table has no 1-minute bars from {iso_ms(begin)} to {iso_ms(until)}"
            " (back-fill them with manage.py backfill_klines)"
        )
    ordered = [bars[ts] for ts in sorted(bars)]
    for earlier, later in itertools.pairwise(ordered):
        if later.ts - earlier.ts != MINUTE_MS:
            raise SourceError(
                f"data gap: the candles table has no 1-minute bars from "
                f"{iso_ms(earlier.ts + MINUTE_MS)} to {iso_ms(later.ts)}"
            )
    return PriceHistory(ordered)


def _settlement(settled: Path | None) -> tuple[str, dict[str, Any]]:
    """The settlement label and the simulator options that give real results."""
    if settled is None:
        return SIMULATED_SETTLEMENT, {}
    try:  # the simulator's settled-markets support (issue #17)
        from marketdata.settled import SettledFileError, load_settled
    except ImportError as exc:
        raise SourceError(
            "--settled needs the simulator's settled-markets support (marketdata.settled), "
            "which this build does not have"
        ) from exc
    try:
        markets = load_settled(settled)
    except SettledFileError as exc:
        raise SourceError(str(exc)) from exc
    label = f"real where {settled} covers the window, else {SIMULATED_SETTLEMENT}"
    return label, {"settled": markets}


# --- archive ---------------------------------------------------------------------------


def archive_source(
    start_ts: int, end_ts: int, *, root: Path, stream: str, history: Path | None
) -> Source:
    """Archived events; warm-up from the candles table, else from ``history`` (a file)."""
    try:
        missing = _missing_days(root, stream, start_ts, end_ts)
        sha = stream_sha256(root, stream, start_ts, end_ts)
    except ArchiveError as exc:
        raise SourceError(str(exc)) from exc
    if missing is not None:
        raise SourceError(missing)
    warmup = table_candles(start_ts, count=WARMUP_CANDLES)
    warmup_from = "candles table"
    if not warmup and history is not None:
        prices = _file_history(history, start_ts - 2 * 86_400_000, start_ts)
        warmup, warmup_from = history_candles(prices, start_ts, count=WARMUP_CANDLES), str(history)

    def batches() -> Iterator[list[Event]]:
        try:
            yield from read_event_batches(root, stream, start_ts, end_ts)
        except ArchiveError as exc:
            raise SourceError(str(exc)) from exc

    def events() -> Iterator[Event]:
        return itertools.chain.from_iterable(batches())  # no Python frame per event

    return Source(
        kind="archive",
        data={
            "source": "archive",
            "archive": str(Path(root) / stream),
            "books": "as archived",
            "settlement": "as archived",
            "warmup": f"{len(warmup)} 15-minute candles before the start, {warmup_from}",
        },
        warmup=warmup,
        events=events,
        sha256=lambda: sha,
    )


def _missing_days(root: Path, stream: str, start_ts: int, end_ts: int) -> str | None:
    day, last = day_of(start_ts), day_of(end_ts - 1)
    absent = []
    while day <= last:
        if not day_path(root, stream, day).is_file():
            absent.append(day)
        day += dt.timedelta(days=1)
    if not absent:
        return None
    if len(absent) == (last - day_of(start_ts)).days + 1:
        return f"the archive {Path(root) / stream} has no files from {day_of(start_ts)} to {last}"
    named = ", ".join(str(day) for day in absent[:5])
    more = f" and {len(absent) - 5} more days" if len(absent) > 5 else ""
    return f"data gap: the archive {Path(root) / stream} has no file for {named}{more}"
