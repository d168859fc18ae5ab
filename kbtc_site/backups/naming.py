"""Backup file names: ``kbtc-<UTC time>.<dump|sqlite3>`` plus its ``.json`` manifest. The time
in the name is what retention goes by, locally and remotely (object stores rewrite mtimes)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
NAME = re.compile(r"^kbtc-(\d{8}T\d{6}Z)\.(dump|sqlite3|json)$")
DUMP_SUFFIXES = (".dump", ".sqlite3")


def dump_name(now: datetime, *, vendor: str) -> str:
    suffix = ".dump" if vendor == "postgresql" else ".sqlite3"
    return f"kbtc-{now.astimezone(UTC):{STAMP_FORMAT}}{suffix}"


def stamp_of(name: str) -> datetime | None:
    """The UTC time in a backup file's name; None for any other file."""
    match = NAME.match(name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), STAMP_FORMAT).replace(tzinfo=UTC)
