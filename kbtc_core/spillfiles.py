"""Spill files: what a stopping process could not write to its database, kept on disk
until its next start applies it.

The trading daemon (``trading.runtime.spill``: its rows) and the recorder
(``marketdata.recorder.spill``: its events) each own their fields and how a line is applied;
the files and each line's envelope are handled here, once. A line is one JSON object that
starts with its ``format`` and its ``db`` (``spill_line``, ``spill_record``). A file is
written whole: a temp file, fsync, then a hard link under the next free number (unlike a
rename, a link never replaces an earlier spill) and the directory fsynced. It is read whole
before anything is applied: the first line that cannot be parsed raises ``SpillError``
naming the file and the line, so a start stops rather than drop the writes in it. It is
removed only after the caller's apply committed. Each line names the database it belongs to
(``database_identity``), so a process on another database (tests, a benchmark, a demo
sharing the data directory) leaves it alone.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import structlog
from django.db import connection

log = structlog.get_logger(__name__)

SPILL_FORMAT = 1


class SpilledLine(Protocol):
    @property
    def db(self) -> str: ...  # the database the line belongs to (``database_identity``)


Line = TypeVar("Line", bound=SpilledLine)


class SpillError(Exception):
    """A spill file that cannot be read; the start stops rather than lose its writes."""


def spill_line(db: str, **fields: Any) -> str:
    """One spill line: ``{"format": 1, "db": db, **fields}`` as compact JSON. Raises
    ``TypeError``/``ValueError`` for fields JSON cannot hold."""
    return json.dumps({"format": SPILL_FORMAT, "db": db, **fields}, separators=(",", ":"))


def spill_record(line: str) -> dict[str, Any]:
    """The JSON object of one spill line, its envelope checked (``format``, ``db``); raises
    ``ValueError`` saying what is wrong."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    if record.get("format") != SPILL_FORMAT:
        raise ValueError(f"unknown format {record.get('format')!r}")
    if not isinstance(record.get("db"), str):
        raise ValueError("no database named (db)")
    return record


def database_identity() -> str:
    """The database the spilled rows belong to (no password): vendor, name, host and port."""
    db = connection.settings_dict
    return f"{connection.vendor}:{db['NAME']}@{db.get('HOST') or ''}:{db.get('PORT') or ''}"


@dataclass(frozen=True)
class SpillDirectory:
    directory: Path
    prefix: str  # the files are ``{prefix}-NNNNNN.jsonl``

    @property
    def _name(self) -> re.Pattern[str]:
        return re.compile(rf"^{re.escape(self.prefix)}-(\d{{6}})\.jsonl$")

    def files(self) -> list[Path]:
        """The spill files waiting, oldest first."""
        if not self.directory.is_dir():
            return []
        name = self._name
        found = [
            (int(m.group(1)), p) for p in self.directory.iterdir() if (m := name.match(p.name))
        ]
        return [path for _, path in sorted(found)]

    def save(self, lines: Sequence[str]) -> Path:
        """Write the lines as a new spill file, whole or not at all; returns its path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = self.files()
        last = self._name.match(existing[-1].name) if existing else None
        number = int(last.group(1)) + 1 if last else 1
        temp = self.directory / f".{self.prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
        with open(temp, "w", encoding="utf-8") as handle:
            handle.writelines(line + "\n" for line in lines)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            while True:
                path = self.directory / f"{self.prefix}-{number:06d}.jsonl"
                try:
                    os.link(temp, path)  # unlike rename, never replaces an earlier spill
                    break
                except FileExistsError:
                    number += 1
        finally:
            temp.unlink()
        self._fsync()
        return path

    def read(
        self, path: Path, parse: Callable[[dict[str, Any], int], Line], *, stops: str
    ) -> list[Line]:
        """Every line of the file, its envelope checked (``spill_record``), through
        ``parse(record, number)`` (which raises ValueError for a record it cannot take), or
        ``SpillError`` naming the file and the first such line. ``stops`` says what did not
        start ("the trader", "the recorder")."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SpillError(f"spill file {path} cannot be read: {exc}") from exc
        parsed: list[Line] = []
        last = text.count("\n") + 1
        for number, line in enumerate(text.split("\n"), start=1):
            if not line and number == last:
                break  # the newline that ends the last line
            try:
                parsed.append(parse(spill_record(line), number))
            except ValueError as exc:
                raise SpillError(
                    f"spill file {path}, line {number}: {exc}. Nothing in it was applied and "
                    f"{stops} did not start: repair or move the file, then start again"
                ) from exc
        return parsed

    def waiting(
        self, parse: Callable[[dict[str, Any], int], Line], *, stops: str
    ) -> list[tuple[Path, list[Line]]]:
        """Every waiting file of this database with its lines, oldest first, all read
        before the caller applies any; a file of another database is left alone (logged)."""
        here = database_identity()
        found: list[tuple[Path, list[Line]]] = []
        for path in self.files():
            lines = self.read(path, parse, stops=stops)
            other = {line.db for line in lines} - {here}
            if other:
                event = f"{self.prefix.replace('-', '_')}_other_database"
                log.warning(event, path=str(path), db=sorted(other), here=here)
                continue
            found.append((path, lines))
        return found

    def remove(self, paths: Iterable[Path]) -> None:
        """Once what the files held is committed."""
        for path in paths:
            path.unlink()
        self._fsync()

    def _fsync(self) -> None:
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
