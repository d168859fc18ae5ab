"""Writes a stop could not make (the database away) kept on disk until the next start.

A stop during a database outage used to lose its queued rows, the final state save among
them: the restart resumed from an older state, without the trades closed since and with
the lanes' bankroll set back. Now the stop writes them to a spill file in
``KBTC_DATA_DIR`` and the next start applies them, in order, before it restores.

Format: ``persist-spill-NNNNNN.jsonl``, one write per line,
``{"format": 1, "db": "...", "write": "position_close", "critical": true, "kwargs": {...}}``,
written whole, never over an earlier spill (the files: ``kbtc_core.spillfiles``). Applying
is idempotent (a row already written is not written again: positions and trades by their
unique ``position_uid``, signal-log and bankroll rows by lane and time; state saves and
position updates set absolute values), in one transaction, and a file is removed only
after that transaction committed. A line that cannot be read stops the start, naming the
file and the line: the writes in it are never dropped silently. ``db`` names the database
the rows belong to: a daemon on another one (the tests, a benchmark, a demo sharing the
data directory) leaves the file alone.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from django.core.exceptions import ObjectDoesNotExist
from django.db import DatabaseError, InterfaceError, OperationalError, transaction

from kbtc_core.spillfiles import SpillDirectory, database_identity, spill_line
from mlgate import services as mlgate_services
from trading.models import BankrollSnapshot, Decision, OpenPosition, Trade
from trading.runtime.state import save_rows
from trading.runtime.writer import Write
from trading.services.controls import emergency_stop_acknowledge
from trading.services.trades import (
    bankroll_record,
    decision_record,
    ms_to_datetime,
    open_positions_reconcile,
    position_close,
    position_open,
    position_update,
)

log = structlog.get_logger(__name__)

PREFIX = "persist-spill"
_OUTAGE = (OperationalError, InterfaceError)


def _position_key(kwargs: dict[str, Any]) -> tuple[Any, ...]:
    return (kwargs["position_uid"],)


def _position_count(kwargs: dict[str, Any]) -> int:
    uid = kwargs["position_uid"]
    opened = OpenPosition.objects.filter(position_uid=uid).count()
    return opened + Trade.objects.filter(position_uid=uid).count()


def _trade_count(kwargs: dict[str, Any]) -> int:
    return Trade.objects.filter(position_uid=kwargs["position_uid"]).count()


def _decision_key(kwargs: dict[str, Any]) -> tuple[Any, ...]:
    return (
        kwargs["lane"],
        kwargs["ts_ms"],
        kwargs["kind"],
        kwargs.get("ticker", ""),
        kwargs.get("direction", ""),
        kwargs.get("skip_reason", "")[:64],
    )


def _decision_count(kwargs: dict[str, Any]) -> int:
    lane, ts_ms, kind, ticker, direction, skip_reason = _decision_key(kwargs)
    return Decision.objects.filter(
        lane=lane,
        ts=ms_to_datetime(ts_ms),
        kind=kind,
        ticker=ticker,
        direction=direction,
        skip_reason=skip_reason,
    ).count()


def _bankroll_key(kwargs: dict[str, Any]) -> tuple[Any, ...]:
    return (kwargs["lane"], kwargs["ts_ms"])


def _bankroll_count(kwargs: dict[str, Any]) -> int:
    return BankrollSnapshot.objects.filter(
        lane=kwargs["lane"], ts=ms_to_datetime(kwargs["ts_ms"])
    ).count()


@dataclass(frozen=True)
class _Kind:
    fn: Callable[..., Any]
    # What identifies the row, and how many such rows the database holds: the Nth write
    # with a key is already written when N are stored (two signal-log rows can share a
    # millisecond). None: the write sets absolute values (an upsert, an update, an
    # acknowledgement by sequence), so writing it twice is harmless.
    key: Callable[[dict[str, Any]], tuple[Any, ...]] | None = None
    stored: Callable[[dict[str, Any]], int] | None = None


SPILLABLE: dict[str, _Kind] = {
    "position_open": _Kind(position_open, _position_key, _position_count),
    "position_update": _Kind(position_update),
    "position_close": _Kind(position_close, _position_key, _trade_count),
    "decision_record": _Kind(decision_record, _decision_key, _decision_count),
    "bankroll_record": _Kind(bankroll_record, _bankroll_key, _bankroll_count),
    "state_save": _Kind(save_rows),
    "emergency_stop_acknowledge": _Kind(emergency_stop_acknowledge),
    # writes only the rows that are missing: applying it twice is harmless
    "open_positions_reconcile": _Kind(open_positions_reconcile),
    # the ML gate's rows: get-or-create at the entry, an update at the exit
    "capture": _Kind(mlgate_services.capture),
    "label": _Kind(mlgate_services.label),
}
_NAMES = {kind.fn: name for name, kind in SPILLABLE.items()}


@dataclass(frozen=True)
class SpilledWrite:
    name: str
    kwargs: dict[str, Any]
    critical: bool
    line: int
    db: str


# --- writing (the stop) ------------------------------------------------------------------


def spill_lines(writes: Sequence[Write]) -> tuple[list[str], list[str]]:
    """(JSON lines, names of the writes that cannot be spilled: unknown or not JSON)."""
    lines: list[str] = []
    unspillable: list[str] = []
    db = database_identity()
    for write in writes:
        name = _NAMES.get(write.fn)
        if name is None:
            unspillable.append(getattr(write.fn, "__name__", str(write.fn)))
            continue
        try:
            # NaN stays allowed (a signal reading can be one): a row is worth more than purity
            lines.append(spill_line(db, write=name, critical=write.critical, kwargs=write.kwargs))
        except (TypeError, ValueError):
            unspillable.append(name)
    return lines, unspillable


def spill_files(directory: Path) -> list[Path]:
    return SpillDirectory(directory, PREFIX).files()


def spill_save(lines: Sequence[str], directory: Path) -> Path:
    return SpillDirectory(directory, PREFIX).save(lines)


# --- reading and applying (the next start) -----------------------------------------------


def spill_read(path: Path) -> list[SpilledWrite]:
    """Every write in the file, or ``SpillError`` naming the first line that is not one."""
    return SpillDirectory(path.parent, PREFIX).read(path, _parse, stops="the trader")


def _parse(record: dict[str, Any], number: int) -> SpilledWrite:
    name, kwargs = record.get("write"), record.get("kwargs")
    if name not in SPILLABLE:
        raise ValueError(f"unknown write {name!r}")
    if not isinstance(kwargs, dict):
        raise ValueError("kwargs is not an object")
    try:
        inspect.signature(SPILLABLE[name].fn).bind(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{name}: {exc}") from exc
    return SpilledWrite(name, kwargs, bool(record.get("critical")), number, record["db"])


def spill_apply(directory: Path) -> dict[str, Any] | None:
    """Apply every waiting spill file in order, in one transaction, then remove them.

    Every file is read before anything is written, so a bad line stops the start with
    nothing applied. A write that fails on its own (a bug, not an outage) is logged and
    skipped, as the live writer does; an outage raises and leaves the files in place.
    """
    spilled = SpillDirectory(directory, PREFIX).waiting(_parse, stops="the trader")
    if not spilled:
        return None
    files = [path for path, _ in spilled]
    counts = {"applied": 0, "already_written": 0, "failed": 0}
    seen: Counter[tuple[Any, ...]] = Counter()
    with transaction.atomic():
        for path, writes in spilled:
            for write in writes:
                counts[_apply_one(path, write, seen)] += 1
    SpillDirectory(directory, PREFIX).remove(files)  # only now: the transaction committed
    result: dict[str, Any] = {"files": [str(path) for path in files], **counts}
    log.info("persist_spill_applied", **result)
    return result


def _apply_one(path: Path, write: SpilledWrite, seen: Counter[tuple[Any, ...]]) -> str:
    kind = SPILLABLE[write.name]
    try:
        with transaction.atomic():
            if kind.key is not None and kind.stored is not None:
                key = (write.name, *kind.key(write.kwargs))
                seen[key] += 1
                if kind.stored(write.kwargs) >= seen[key]:
                    return "already_written"
            kind.fn(**write.kwargs)
    except _OUTAGE:
        raise
    except (DatabaseError, ObjectDoesNotExist, ValueError, LookupError, TypeError) as exc:
        log.error(
            "persist_spill_write_failed",
            path=str(path),
            line=write.line,
            write=write.name,
            critical=write.critical,
            error=f"{type(exc).__name__}: {exc}",
        )
        return "failed"
    return "applied"
