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

import collections
import dataclasses
import gc
import itertools
import types
import typing
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

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


def table_to_events(table: pa.Table, first_row: int = 0) -> list[Event]:
    """Inverse of ``events_to_table``: the same events, equal field by field, in order.

    Decoded a kind at a time (its rows of its own columns taken in Arrow, turned into Python
    lists, the events built a column at a time), then put back in stream order: several
    times faster than building row by row, which is what lets a backtest replay the archive
    at engine speed. ``first_row``: the file's row number of the table's first row (the
    table is a batch of a file), for messages."""
    if KIND not in table.column_names:
        raise EventFormatError("archive table has no 'kind' column")
    # Hundreds of thousands of new objects, none in a reference cycle: the collector would
    # only re-scan everything the process holds (the caller's stream, the engine) each time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _decode(table, first_row)
    finally:
        if collecting:
            gc.enable()


def _decode(table: pa.Table, first_row: int) -> list[Event]:
    kind_column = table.column(KIND)
    kinds = pc.unique(kind_column).to_pylist()
    present = set(table.column_names)
    out: list[Any] = [None] * table.num_rows
    for kind in kinds:
        if kind not in EVENT_TYPES:
            row = first_row + kinds_first_row(kind_column, kind)
            raise EventFormatError(f"unknown event kind {kind!r} in archive row {row}")
        positions = pc.indices_nonzero(pc.equal(kind_column, kind))
        # Only the kind's own columns are taken (the others are null in its rows).
        rows = table.select([c.column for c in KIND_COLUMNS[kind] if c.column in present])
        places = positions.to_pylist()
        events = _decode_kind(kind, rows.take(positions), first_row, places)
        for position, event in zip(places, events, strict=True):
            out[position] = event
    return out


def kinds_first_row(kind_column: pa.ChunkedArray, kind: str | None) -> int:
    mask = pc.is_null(kind_column) if kind is None else pc.equal(kind_column, kind)
    return int(pc.indices_nonzero(mask)[0].as_py())


def _decode_kind(kind: str, rows: pa.Table, first_row: int, places: list[int]) -> list[Event]:
    """One kind's rows as events. Built as ``fast_init`` builds the engine's records: the
    instances are made bare and each field stored through its slot's descriptor, a whole
    column at a time (the frozen dataclass ``__init__`` costs about a microsecond an event;
    the event types have no ``__post_init__`` to skip). A field the file lacks (newer than
    the file) takes its default, or the file is refused. Row ``i`` of ``rows`` is row
    ``first_row + places[i]`` of the file (for messages)."""
    cls = EVENT_TYPES[kind]
    present = set(rows.column_names)
    count = rows.num_rows
    events: list[Any] = list(map(object.__new__, itertools.repeat(cls, count)))
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    for col in KIND_COLUMNS[kind]:
        if col.column in present:
            column = rows.column(col.column)
            if not col.nullable and column.null_count:
                row = first_row + places[int(pc.indices_nonzero(pc.is_null(column))[0].as_py())]
                raise EventFormatError(f"{kind} in archive row {row} has no {col.column}")
            values = _python_values(column)
            if col.is_fraction:
                values = [Fraction(value) for value in values]
            elif col.is_levels:
                values = [tuple((int(p), int(c)) for p, c in levels) for levels in values]
        elif defaults[col.field] is not dataclasses.MISSING:
            values = [defaults[col.field]] * count
        else:
            raise EventFormatError(f"archive file has no column {col.column} for {kind} events")
        collections.deque(map(cls.__dict__[col.field].__set__, events, values), maxlen=0)
    return events


def _python_values(column: pa.ChunkedArray) -> list[Any]:
    """A column as Python values, by the fastest exact route: Arrow's ``to_pylist`` builds
    each value through a scalar (about a microsecond each); numbers go through NumPy
    (float64 and int64 convert exactly), strings through their dictionary (the reader asks
    Parquet for string columns dictionary-encoded, as it stores them), nulls put back by
    position."""
    values: list[Any] = []
    for chunk in column.chunks:
        values += _chunk_values(chunk)
    return values


def _chunk_values(array: pa.Array) -> list[Any]:
    count = len(array)
    nulls = array.null_count
    if nulls == count:
        return [None] * count
    kind = array.type
    if pa.types.is_string(kind):
        array = pc.dictionary_encode(array)
        kind = array.type
    if pa.types.is_dictionary(kind):
        words = array.dictionary.to_pylist()
        indices = array.indices
        if nulls:
            words.append(None)
            indices = indices.fill_null(len(words) - 1)
        return list(map(words.__getitem__, indices.to_numpy().tolist()))
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        return array.to_pylist()  # book levels: a few hundred snapshots a day
    if not nulls:
        numbers: list[Any] = array.to_numpy(zero_copy_only=False).tolist()
        return numbers
    numbers = (
        array.fill_null(False if pa.types.is_boolean(kind) else 0)
        .to_numpy(zero_copy_only=False)
        .tolist()
    )
    for position in pc.indices_nonzero(array.is_null()).to_numpy().tolist():
        numbers[position] = None
    return numbers
