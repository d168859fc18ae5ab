"""Backup and restore-drill services: the beat job, ``backup_now`` and ``restore_drill`` call
these. Each run is a ``BackupRun`` row written when it starts and finished with its outcome.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from django.conf import settings
from django.db import connection
from django.utils import timezone

from kbtc_site.backups import dumps, remote
from kbtc_site.backups.dumps import BackupError
from kbtc_site.backups.naming import DUMP_SUFFIXES, dump_name, stamp_of
from kbtc_site.models import BackupKind, BackupRun, BackupStatus
from marketdata.management.commands.archive_events import default_root

log = structlog.get_logger(__name__)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(dump: Path) -> Path:
    return dump.with_suffix(".json")


def _finish(run: BackupRun, status: str, message: str = "") -> BackupRun:
    run.status = status
    run.message = message
    run.finished_at = timezone.now()
    run.save()
    log_method = log.info if status == BackupStatus.OK else log.error
    log_method(f"{run.kind}_{status}", file=run.file_name, message=message[:500])
    if status != BackupStatus.RUNNING:
        _notify(run, ok=status == BackupStatus.OK, message=message)
    return run


def _notify(run: BackupRun, *, ok: bool, message: str) -> None:
    """The operator hears of every finished backup or drill (Discord, where configured); a
    channel that cannot be reached never fails the backup itself."""
    from trading.notifications.jobs import notify_backup_status

    text = f"{run.kind} {run.file_name or ''}: {message or ('done' if ok else 'failed')}"
    try:
        notify_backup_status(mode="", ok=ok, text=text[:1000])
    except Exception as exc:  # a broker away: logged, the backup's own result stands
        log.warning("backup_notification_failed", error=f"{type(exc).__name__}: {exc}")


def _dump(directory: Path, now: datetime) -> tuple[Path, dict[str, int]]:
    target = directory / dump_name(now, vendor=connection.vendor)
    if target.exists():
        raise BackupError(f"{target} already exists (two backups in one second)")
    database = connection.settings_dict
    if connection.vendor == "postgresql":
        return target, dumps.pg_dump(dumps.pg_params(database), target)
    if connection.vendor == "sqlite":
        return target, dumps.sqlite_backup(Path(database["NAME"]), target)
    raise BackupError(f"no backup method for the {connection.vendor} database")


def prune_local(directory: Path, *, now: datetime, keep_days: int) -> list[Path]:
    """Delete dumps (and manifests) older than ``keep_days`` by their names' time; the newest
    dump is always kept, however old, so a stopped schedule never empties the folder."""
    cutoff = now - timedelta(days=keep_days)
    # A dump's ".partial" (a run that died mid-dump) goes by the same time as its dump would.
    stamped = [
        (stamp, path)
        for path in directory.iterdir()
        if (stamp := stamp_of(path.name.removesuffix(".partial")))
    ]
    newest = max((s for s, p in stamped if p.suffix in DUMP_SUFFIXES), default=None)
    # (a .partial's suffix is ".partial": it never counts as the newest dump)
    doomed = [path for stamp, path in stamped if stamp < cutoff and stamp != newest]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def backup_run(*, now: datetime | None = None) -> BackupRun:
    """Dump the database, write its manifest, upload both when a bucket is configured, then
    apply local and remote retention. Raises ``BackupError`` after recording the failure."""
    now = now or timezone.now()
    kbtc = settings.KBTC
    directory = Path(kbtc["BACKUP_DIR"])
    run = BackupRun.objects.create(kind=BackupKind.BACKUP, started_at=now)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        target, counts = _dump(directory, now)
        run.file_name = target.name
        run.size_bytes = target.stat().st_size
        run.sha256 = _sha256(target)
        run.table_counts = counts
        run.save()
        manifest = {
            "file": target.name,
            "created_at": now.isoformat(),
            "vendor": connection.vendor,
            "database": str(connection.settings_dict["NAME"]),
            "size_bytes": run.size_bytes,
            "sha256": run.sha256,
            "tables": counts,
        }
        manifest_path(target).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        bucket = remote.Bucket.from_settings(kbtc)
        if bucket is not None:
            run.remote_key = remote.upload(bucket, [target, manifest_path(target)])[0]
            run.save(update_fields=["remote_key"])
            remote.prune(bucket, now)
            remote.sync_archive(bucket, default_root())
        prune_local(directory, now=now, keep_days=kbtc["BACKUP_KEEP_DAYS"])
    except (BackupError, OSError) as exc:
        _finish(run, BackupStatus.FAILED, str(exc))
        raise BackupError(str(exc)) from None
    return _finish(run, BackupStatus.OK)


def newest_dump(directory: Path) -> Path:
    dumps_found = sorted(
        (stamp, path)
        for path in (directory.iterdir() if directory.is_dir() else [])
        if path.suffix in DUMP_SUFFIXES
        and (stamp := stamp_of(path.name))
        and manifest_path(path).exists()
    )
    if not dumps_found:
        raise BackupError(f"no dump with a manifest in {directory}")
    return dumps_found[-1][1]


def read_manifest(dump: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads(manifest_path(dump).read_text())
        expected = str(manifest["sha256"])
        tables = manifest["tables"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{manifest_path(dump)}: unreadable manifest ({exc})") from None
    if not isinstance(tables, dict):
        raise BackupError(f"{manifest_path(dump)}: 'tables' is not a mapping")
    if _sha256(dump) != expected:
        raise BackupError(f"{dump}: its sha256 differs from the manifest's (a damaged copy)")
    return manifest


def count_mismatches(expected: dict[str, int], restored: dict[str, int]) -> list[str]:
    """One line per table whose restored row count differs from the dump's."""
    lines = []
    for table in sorted(expected.keys() | restored.keys()):
        if table not in restored:
            lines.append(f"{table}: missing from the restore (dump had {expected[table]} rows)")
        elif table not in expected:
            lines.append(f"{table}: in the restore ({restored[table]} rows) but not the dump")
        elif expected[table] != restored[table]:
            lines.append(f"{table}: restored {restored[table]} rows, dump had {expected[table]}")
    return lines


def backup_restore_drill(*, dump: Path | None = None) -> BackupRun:
    """Restore ``dump`` (default: the newest local one) into a scratch database and compare
    every table's row count with the counts taken in the dump's snapshot. The run is
    ``failed`` on any mismatch (listed in its message); a restore that cannot run raises."""
    run = BackupRun.objects.create(kind=BackupKind.DRILL, started_at=timezone.now())
    try:
        dump = dump or newest_dump(Path(settings.KBTC["BACKUP_DIR"]))
        run.file_name = dump.name
        manifest = read_manifest(dump)
        run.sha256 = str(manifest["sha256"])
        run.size_bytes = dump.stat().st_size
        if dump.suffix == ".dump":
            if connection.vendor != "postgresql":
                raise BackupError(f"{dump.name} is a PostgreSQL dump: run the drill on PostgreSQL")
            restored = dumps.pg_restore_counts(dumps.pg_params(connection.settings_dict), dump)
        else:
            restored = dumps.sqlite_restore_counts(dump)
        run.table_counts = restored
    except (BackupError, OSError) as exc:
        _finish(run, BackupStatus.FAILED, str(exc))
        raise BackupError(str(exc)) from None
    mismatches = count_mismatches(manifest["tables"], restored)
    if mismatches:
        return _finish(run, BackupStatus.FAILED, "\n".join(mismatches))
    return _finish(run, BackupStatus.OK, f"{len(restored)} tables, row counts match")
