"""Making and restoring one database dump, with the row count of every table it holds.

The counts are taken inside the very snapshot the dump copies (PostgreSQL: an exported
snapshot that ``pg_dump --snapshot`` reuses; SQLite: one read transaction around the online
backup), so a restore drill can compare a restored table with the rows the dump really holds
while the trader keeps writing to the source.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

PG_TIMEOUT_S = 6 * 3600  # a dump that takes longer is stuck, not slow


class BackupError(Exception):
    """A dump or a restore failed; the message says which tool and why."""


def pg_params(database: Mapping[str, Any]) -> dict[str, str]:
    """libpq parameters of a Django ``DATABASES`` entry (empty ones left out)."""
    params = {
        "dbname": str(database["NAME"]),
        "host": str(database.get("HOST") or ""),
        "port": str(database.get("PORT") or ""),
        "user": str(database.get("USER") or ""),
        "password": str(database.get("PASSWORD") or ""),
    }
    return {key: value for key, value in params.items() if value}


def _pg_env(params: Mapping[str, str]) -> dict[str, str]:
    # The password travels in the environment, never on a command line others can read.
    names = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({names[key]: value for key, value in params.items() if key in names})
    return env


def _run(command: list[str], params: Mapping[str, str]) -> None:
    tool = command[0]
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} is not installed (Debian: postgresql-client)")
    try:
        done = subprocess.run(
            [*command, "--no-password"],
            env=_pg_env(params),
            capture_output=True,
            text=True,
            timeout=PG_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BackupError(f"{tool} did not finish within {PG_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise BackupError(f"{tool} failed (exit {done.returncode}): {done.stderr.strip()[:2000]}")


def _connect(params: Mapping[str, str], **options: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(make_conninfo(**params), connect_timeout=10, **options)


def _pg_counts(cursor: psycopg.Cursor[Any]) -> dict[str, int]:
    cursor.execute(
        "SELECT schemaname, tablename FROM pg_tables"
        " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        " ORDER BY schemaname, tablename"
    )
    counts = {}
    for schema, table in cursor.fetchall():
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
        row = cursor.fetchone()
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts


def pg_dump(params: Mapping[str, str], target: Path) -> dict[str, int]:
    """``pg_dump -Fc`` of the database into ``target``; returns the dump's row counts."""
    partial = target.with_name(target.name + ".partial")
    try:
        with _connect(params) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_export_snapshot()")
                row = cursor.fetchone()
                assert row is not None
                snapshot = str(row[0])
                counts = _pg_counts(cursor)
            # The snapshot lives as long as this transaction: pg_dump must finish first.
            _run(["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={partial}",
                  f"--dbname={params['dbname']}"], params)  # fmt: skip
            conn.rollback()
    except psycopg.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"PostgreSQL: {exc}".strip()) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.rename(target)
    return counts


def scratch_name(source: str) -> str:
    return f"{source[:50]}_restore_drill"


def pg_restore_counts(params: Mapping[str, str], dump: Path) -> dict[str, int]:
    """Restore ``dump`` into a fresh scratch database beside the source, count its rows,
    drop it again; returns the restored row counts."""
    scratch = scratch_name(params["dbname"])
    admin = {**params, "dbname": "postgres"}
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
    try:
        with _connect(admin, autocommit=True) as conn:
            conn.execute(drop)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
        try:
            _run(["pg_restore", "--exit-on-error", "--no-owner", "--no-privileges",
                  f"--dbname={scratch}", str(dump)], params)  # fmt: skip
            with (
                _connect({**params, "dbname": scratch}) as conn,
                conn.cursor() as cursor,
            ):
                return _pg_counts(cursor)
        finally:
            with _connect(admin, autocommit=True) as conn:
                conn.execute(drop)
    except psycopg.Error as exc:
        raise BackupError(f"PostgreSQL: {exc}".strip()) from None


def _sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    tables = [
        str(row[0])
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]
    return {
        f"main.{table}": int(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
        for table in tables
    }


def sqlite_backup(source: Path, target: Path) -> dict[str, int]:
    """Copy the live SQLite file with the online backup API (safe while others write);
    returns the copy's row counts."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(source, timeout=20, isolation_level=None)
        dst = sqlite3.connect(partial)
        try:
            src.execute("BEGIN")  # one read snapshot for the counts and the copy
            counts = _sqlite_counts(src)
            src.backup(dst)
            src.execute("ROLLBACK")
            # The copy carries the source's WAL mode; one self-contained file is the backup.
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"SQLite backup: {exc}") from None
    partial.rename(target)
    return counts


def sqlite_restore_counts(dump: Path) -> dict[str, int]:
    """Restore ``dump`` to a scratch file (a copy, as a disaster recovery would), check its
    integrity and count its rows."""
    with tempfile.TemporaryDirectory(prefix="kbtc-drill-") as scratch_dir:
        scratch = Path(scratch_dir) / "restored.sqlite3"
        try:
            # immutable: nothing (no -wal or -shm file) is written beside the backup
            src = sqlite3.connect(f"file:{dump}?mode=ro&immutable=1", uri=True)
            dst = sqlite3.connect(scratch)
            try:
                src.backup(dst)
            finally:
                src.close()
            try:
                verdict = dst.execute("PRAGMA integrity_check").fetchone()[0]
                if verdict != "ok":
                    raise BackupError(f"SQLite integrity check: {verdict}")
                return _sqlite_counts(dst)
            finally:
                dst.close()
        except sqlite3.Error as exc:
            raise BackupError(f"SQLite restore: {exc}") from None
