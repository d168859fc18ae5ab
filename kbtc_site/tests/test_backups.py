"""Backups against the real tools: pg_dump/pg_restore on the local PostgreSQL, SQLite's
online backup API, and the upload against a local S3 server (moto) the test starts."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from moto.server import ThreadedMotoServer

from kbtc_site.backups import dumps, remote
from kbtc_site.backups.dumps import BackupError
from kbtc_site.backups.services import (
    backup_run,
    manifest_path,
    prune_local,
)
from kbtc_site.models import BackupKind, BackupRun, BackupStatus
from marketdata.archive.store import write_events
from marketdata.models import RecordingSession
from marketdata.sim.stream import generate_events

NOON = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
JAN1 = 1_767_225_600_000  # 2026-01-01T00:00Z


@pytest.fixture
def backup_dir(settings: Any, tmp_path: Path) -> Path:
    settings.KBTC = {**settings.KBTC, "BACKUP_DIR": tmp_path / "backups", "BACKUP_S3_BUCKET": ""}
    return tmp_path / "backups"


def _sessions(n: int) -> None:
    RecordingSession.objects.bulk_create(
        RecordingSession(started_at=timezone.now(), label=f"s{i}") for i in range(n)
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_backup_dumps_every_table_and_the_drill_restores_the_same_rows(
    backup_dir: Path,
) -> None:
    _sessions(3)
    run = backup_run(now=NOON)
    assert run.status == BackupStatus.OK
    dump = backup_dir / "kbtc-20261204T120000Z.dump"
    assert run.file_name == dump.name
    assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    manifest = json.loads(manifest_path(dump).read_text())
    assert manifest["tables"]["public.marketdata_recordingsession"] == 3
    assert manifest["tables"]["public.kbtc_site_backuprun"] == 1  # itself, while running
    assert manifest["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest()

    _sessions(2)  # written after the dump: the drill compares with the dump's snapshot
    call_command("restore_drill")
    drill = BackupRun.objects.get(kind=BackupKind.DRILL)
    assert drill.status == BackupStatus.OK
    assert drill.table_counts["public.marketdata_recordingsession"] == 3
    assert drill.table_counts == manifest["tables"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_drill_fails_and_names_the_table_whose_count_differs(backup_dir: Path) -> None:
    _sessions(1)
    run = backup_run(now=NOON)
    # The manifest says the dump held one more row than the restore finds.
    manifest_file = manifest_path(backup_dir / run.file_name)
    manifest = json.loads(manifest_file.read_text())
    manifest["tables"]["public.marketdata_recordingsession"] = 2
    manifest_file.write_text(json.dumps(manifest))

    with pytest.raises(CommandError, match="recordingsession: restored 1 rows, dump had 2") as exc:
        call_command("restore_drill")
    assert exc.value.returncode == 1
    drill = BackupRun.objects.get(kind=BackupKind.DRILL)
    assert drill.status == BackupStatus.FAILED
    assert "recordingsession" in drill.message


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_drill_refuses_a_damaged_dump(backup_dir: Path) -> None:
    run = backup_run(now=NOON)
    dump = backup_dir / run.file_name
    dump.write_bytes(dump.read_bytes()[:-100])
    with pytest.raises(CommandError, match="sha256 differs"):
        call_command("restore_drill")
    assert BackupRun.objects.get(kind=BackupKind.DRILL).status == BackupStatus.FAILED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failed_backup_is_recorded_and_raised(settings: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    settings.KBTC = {**settings.KBTC, "BACKUP_DIR": blocker / "backups"}
    with pytest.raises(CommandError, match="backup failed"):
        call_command("backup_now")
    run = BackupRun.objects.get()
    assert (run.status, run.finished_at is not None) == (BackupStatus.FAILED, True)
    assert "not-a-dir" in run.message


@pytest.mark.postgres
def test_pg_dump_of_a_missing_database_raises_and_leaves_no_file(tmp_path: Path) -> None:
    params = {"dbname": "kbtc_no_such_database", "host": "127.0.0.1", "user": "postgres"}
    with pytest.raises(BackupError, match="kbtc_no_such_database"):
        dumps.pg_dump(params, tmp_path / "x.dump")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def s3_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_backup_uploads_to_s3_and_prunes_remote_copies_past_30_days(
    settings: Any, backup_dir: Path, s3_server: str, tmp_path: Path
) -> None:
    keys = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", **keys)
    client.create_bucket(Bucket="kbtc-backups")
    old, recent = "kbtc/kbtc-20261103T033000Z.dump", "kbtc/kbtc-20261105T033000Z.dump"
    for key in (old, recent, "kbtc/notes.txt"):
        client.put_object(Bucket="kbtc-backups", Key=key, Body=b"x")
    settings.KBTC = {
        **settings.KBTC,
        "BACKUP_S3_BUCKET": "kbtc-backups",
        "BACKUP_S3_PREFIX": "kbtc/",
        "BACKUP_S3_ENDPOINT_URL": s3_server,
        "BACKUP_S3_ACCESS_KEY_ID": "test",
        "BACKUP_S3_SECRET_ACCESS_KEY": "test",
    }
    # The event archive (what retention moved out of the database) goes up too.
    archive_root = tmp_path / "data" / "archive"
    settings.KBTC = {**settings.KBTC, "DATA_DIR": tmp_path / "data"}
    day = write_events(archive_root, "journal", generate_events(1, JAN1, 3))[0]
    _sessions(2)
    run = backup_run(now=NOON)

    assert run.remote_key == "kbtc/kbtc-20261204T120000Z.dump"
    listed = {item["Key"] for item in client.list_objects_v2(Bucket="kbtc-backups")["Contents"]}
    archived_key = "kbtc/archive/journal/2026/2026-01-01.parquet"
    assert listed == {
        recent,
        "kbtc/notes.txt",  # not a backup: never touched
        "kbtc/kbtc-20261204T120000Z.dump",
        "kbtc/kbtc-20261204T120000Z.json",
        archived_key,
    }
    body = client.get_object(Bucket="kbtc-backups", Key=run.remote_key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == run.sha256
    uploaded = client.get_object(Bucket="kbtc-backups", Key=archived_key)["Body"].read()
    assert uploaded == day.path.read_bytes()
    bucket = remote.Bucket.from_settings(settings.KBTC)
    assert bucket is not None
    assert remote.sync_archive(bucket, archive_root) == []  # already there: not sent again


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_unreachable_bucket_fails_the_run_and_keeps_the_local_dump(
    settings: Any, backup_dir: Path
) -> None:
    settings.KBTC = {
        **settings.KBTC,
        "BACKUP_S3_BUCKET": "kbtc-backups",
        "BACKUP_S3_ENDPOINT_URL": "http://127.0.0.1:9",  # discard port: refused
        "BACKUP_S3_ACCESS_KEY_ID": "test",
        "BACKUP_S3_SECRET_ACCESS_KEY": "test",
    }
    with pytest.raises(BackupError, match="upload to s3://kbtc-backups"):
        backup_run(now=NOON)
    run = BackupRun.objects.get()
    assert run.status == BackupStatus.FAILED
    assert (backup_dir / run.file_name).exists()


def test_local_retention_drops_dumps_past_7_days_and_keeps_the_newest(tmp_path: Path) -> None:
    names = [
        "kbtc-20261120T033000Z.dump",
        "kbtc-20261120T033000Z.json",
        "kbtc-20261126T033000Z.dump.partial",  # a dump that died: goes by its time too
        "kbtc-20261127T032959Z.dump",
        "kbtc-20261128T033000Z.dump",
        "notes.txt",
    ]
    for name in names:
        (tmp_path / name).write_text("")
    deleted = prune_local(tmp_path, now=datetime(2026, 12, 4, 3, 30, tzinfo=UTC), keep_days=7)
    assert sorted(p.name for p in deleted) == names[:4]
    assert sorted(p.name for p in tmp_path.iterdir()) == names[4:]
    # Long after the schedule stopped, the newest dump is still there.
    prune_local(tmp_path, now=NOON + timedelta(days=365), keep_days=7)
    assert (tmp_path / names[4]).exists()


def test_the_sqlite_backup_is_one_consistent_snapshot_while_another_writer_inserts(
    tmp_path: Path,
) -> None:
    source = tmp_path / "kbtc.sqlite3"
    with sqlite3.connect(source) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE event (id INTEGER PRIMARY KEY, body TEXT)")
        conn.executemany("INSERT INTO event (body) VALUES (?)", [("x" * 200,)] * 20_000)
    stop = threading.Event()

    def keep_writing() -> None:
        writer = sqlite3.connect(source, timeout=20)
        while not stop.is_set():
            writer.execute("INSERT INTO event (body) VALUES ('late')")
            writer.commit()
        writer.close()

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        counts = dumps.sqlite_backup(source, tmp_path / "copy.sqlite3")
    finally:
        stop.set()
        thread.join()
    assert counts["main.event"] >= 20_000
    assert dumps.sqlite_restore_counts(tmp_path / "copy.sqlite3") == counts
    # one self-contained file: no WAL mode carried over, nothing left beside it
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("copy")) == [
        "copy.sqlite3"
    ]


def test_the_sqlite_drill_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    broken = tmp_path / "kbtc-20261204T120000Z.sqlite3"
    broken.write_bytes(b"not a database" * 100)
    with pytest.raises(BackupError, match="SQLite restore"):
        dumps.sqlite_restore_counts(broken)
