"""Events ↔ one Arrow table: a column per event field, derived from the event types.

Every kind of ``marketdata.model.events`` shares one table; a row fills the columns of its
kind's fields and leaves the others null. Where two kinds give one field name different
types (``SpotTrade.price`` is a BTC float, ``BookDelta.price`` a price-unit int), the column
carries the type in its name (``price__float``, ``price__int``), so every value keeps its
exact type: ints stay int64, BTC floats float64 (bit-exact), the fee multiplier its
``"p/q"`` string, book levels ``list<list<int64>>``. The columns are derived, not listed,
so a field added to an event type is archived without a change here; a file written before
it reads back with the field's default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from typing import Any, Literal

import pyarrow as pa

from marketdata.model.events import EVENT_TYPES, Event, EventFormatError

FORMAT_VERSION = 1

# Columns every row has, whatever its kind; ``session``/``seq`` identify a journal row.
KIND, SESSION, SEQ = "kind", "session", "seq"

LEVELS = pa.list_(pa.list_(pa.int64()))


def _arrow_type(hint: Any) -> tuple[pa.DataType, str]:
    """An event field's annotation → its Arrow type and a short type name."""
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        return _arrow_type(args[0])
    if hint is bool:
        return pa.bool_(), "bool"
    if hint is int:
        return pa.int64(), "int"
    if hint is float:
        return pa.float64(), "float"
    if hint is str or hint is Fraction or typing.get_origin(hint) is Literal:
        return pa.string(), "str"
    if typing.get_origin(hint) is tuple:
        return LEVELS, "levels"
    raise TypeError(f"no archive column type for event field annotation {hint!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class FieldColumn:
    field: str
    column: str
    type: pa.DataType
    is_fraction: bool
    is_levels: bool
    nullable: bool


def _kind_columns() -> dict[str, tuple[FieldColumn, ...]]:
    typed: dict[str, dict[str, tuple[pa.DataType, str, Any]]] = {}
    for kind, cls in EVENT_TYPES.items():
        hints = typing.get_type_hints(cls)
        typed[kind] = {
            f.name: (*_arrow_type(hints[f.name]), hints[f.name]) for f in dataclasses.fields(cls)
        }
    names: dict[str, set[str]] = {}
    for fields in typed.values():
        for name, (_, type_name, _) in fields.items():
            names.setdefault(name, set()).add(type_name)
    return {
        kind: tuple(
            FieldColumn(
                field=name,
                column=name if len(names[name]) == 1 else f"{name}__{type_name}",
                type=arrow_type,
                is_fraction=hint is Fraction,
                is_levels=type_name == "levels",
                nullable=type(None) in typing.get_args(hint),
            )
            for name, (arrow_type, type_name, hint) in fields.items()
        )
        for kind, fields in typed.items()
    }


KIND_COLUMNS = _kind_columns()
_FIELD_COLUMNS = sorted({(c.column, c.type) for cols in KIND_COLUMNS.values() for c in cols})
SCHEMA = pa.schema(
    [
        pa.field(KIND, pa.string()),
        pa.field(SESSION, pa.int64()),
        pa.field(SEQ, pa.int64()),
        *(pa.field(name, arrow_type) for name, arrow_type in _FIELD_COLUMNS),
    ],
    metadata={b"kbtc_archive_format": str(FORMAT_VERSION).encode()},
)


def events_to_table(
    events: Sequence[Event], journal_keys: Sequence[tuple[int, int]] | None = None
) -> pa.Table:
    """Events (in stream order) → a table of ``SCHEMA``; ``journal_keys`` are the
    ``(session, seq)`` of each recorded event, None for a generated stream."""
    if journal_keys is not None and len(journal_keys) != len(events):
        raise ValueError(f"{len(journal_keys)} journal keys for {len(events)} events")
    columns: dict[str, list[Any]] = {name: [None] * len(events) for name in SCHEMA.names}
    kinds = columns[KIND]
    for row, event in enumerate(events):
        kinds[row] = event.kind
        for col in KIND_COLUMNS[event.kind]:
            value = getattr(event, col.field)
            if col.is_fraction:
                value = str(value)
            columns[col.column][row] = value
    if journal_keys is not None:
        columns[SESSION] = [session for session, _ in journal_keys]
        columns[SEQ] = [seq for _, seq in journal_keys]
    arrays = [pa.array(columns[f.name], type=f.type) for f in SCHEMA]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _decoder(kind: str, available: Iterable[str]) -> tuple[type[Any], tuple[FieldColumn, ...]]:
    cls = EVENT_TYPES[kind]
    present = set(available)
    return cls, tuple(c for c in KIND_COLUMNS[kind] if c.column in present)


def table_to_events(table: pa.Table) -> list[Event]:
    """Inverse of ``events_to_table``: the same events, equal field by field, in order."""
    if KIND not in table.column_names:
        raise EventFormatError("archive table has no 'kind' column")
    values = {name: table.column(name).to_pylist() for name in table.column_names}
    kinds = values[KIND]
    builders: dict[str, Callable[[int], Event]] = {}
    out: list[Event] = []
    append = out.append
    for row, kind in enumerate(kinds):
        build = builders.get(kind)
        if build is None:
            if kind not in EVENT_TYPES:
                raise EventFormatError(f"unknown event kind {kind!r} in archive row {row}")
            build = builders[kind] = _row_builder(kind, values)
        append(build(row))
    return out


def _row_builder(kind: str, values: dict[str, list[Any]]) -> Callable[[int], Event]:
    cls, cols = _decoder(kind, values)
    plain = [(c.field, values[c.column]) for c in cols if not (c.is_fraction or c.is_levels)]
    fractions = [(c.field, values[c.column]) for c in cols if c.is_fraction]
    levels = [(c.field, values[c.column]) for c in cols if c.is_levels]
    required = [(c.column, values[c.column]) for c in cols if not c.nullable]

    def build(row: int) -> Event:
        for name, column in required:
            if column[row] is None:
                raise EventFormatError(f"{kind} archive row {row} has no {name}")
        kwargs = {name: column[row] for name, column in plain}
        for name, column in fractions:
            kwargs[name] = Fraction(column[row])
        for name, column in levels:
            kwargs[name] = tuple((int(p), int(c)) for p, c in column[row])
        try:
            event: Event = cls(**kwargs)
        except TypeError as exc:
            raise EventFormatError(f"bad {kind} archive row {row}: {exc}") from exc
        return event

    return build
