"""The off-machine copy: S3-compatible object storage through boto3 (AWS, MinIO, R2, B2...)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from kbtc_site.backups.dumps import BackupError
from kbtc_site.backups.naming import stamp_of


@dataclass(frozen=True)
class Bucket:
    name: str
    prefix: str
    endpoint_url: str
    region: str
    access_key_id: str
    secret_access_key: str
    keep_days: int

    @classmethod
    def from_settings(cls, kbtc: Mapping[str, Any]) -> Bucket | None:
        """The configured bucket, or None when no bucket is set (local copies only)."""
        if not kbtc["BACKUP_S3_BUCKET"]:
            return None
        return cls(
            name=kbtc["BACKUP_S3_BUCKET"],
            prefix=kbtc["BACKUP_S3_PREFIX"],
            endpoint_url=kbtc["BACKUP_S3_ENDPOINT_URL"],
            region=kbtc["BACKUP_S3_REGION"],
            access_key_id=kbtc["BACKUP_S3_ACCESS_KEY_ID"],
            secret_access_key=kbtc["BACKUP_S3_SECRET_ACCESS_KEY"],
            keep_days=kbtc["BACKUP_S3_KEEP_DAYS"],
        )

    def client(self) -> Any:
        # Empty keys fall through to boto3's own chain (instance role, ~/.aws).
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url or None,
            region_name=self.region,
            aws_access_key_id=self.access_key_id or None,
            aws_secret_access_key=self.secret_access_key or None,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10),
        )


def upload(bucket: Bucket, files: list[Path]) -> list[str]:
    """Upload each file under the prefix; returns their keys. The manifest goes last, so a
    listed manifest always has its dump beside it."""
    client = bucket.client()
    keys = []
    try:
        for path in files:
            key = f"{bucket.prefix}{path.name}"
            client.upload_file(str(path), bucket.name, key)
            keys.append(key)
    except (BotoCoreError, ClientError, OSError) as exc:
        raise BackupError(f"upload to s3://{bucket.name}/{bucket.prefix}: {exc}") from None
    return keys


def prune(bucket: Bucket, now: datetime) -> list[str]:
    """Delete the backups (by the time in their names) older than ``keep_days``; objects
    under the prefix that are not ours are left alone. Returns the deleted keys."""
    client = bucket.client()
    cutoff = now - timedelta(days=bucket.keep_days)
    doomed = []
    try:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket.name, Prefix=bucket.prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                key = str(item["Key"])
                stamp = stamp_of(key.removeprefix(bucket.prefix))
                if stamp is not None and stamp < cutoff:
                    doomed.append(key)
        for start in range(0, len(doomed), 1000):  # the API's batch limit
            chunk = doomed[start : start + 1000]
            client.delete_objects(
                Bucket=bucket.name, Delete={"Objects": [{"Key": key} for key in chunk]}
            )
    except (BotoCoreError, ClientError) as exc:
        raise BackupError(f"pruning s3://{bucket.name}/{bucket.prefix}: {exc}") from None
    return doomed


def sync_archive(bucket: Bucket, root: Path) -> list[str]:
    """Upload the event archive's day files that the bucket lacks (or holds at another size:
    a day merged again) under ``<prefix>archive/``; returns the keys uploaded. Retention
    deleted these events from the database, so the archive is the only copy left on the
    machine: it goes off the machine too, and is never pruned there."""
    if not root.is_dir():
        return []
    client = bucket.client()
    base = f"{bucket.prefix}archive/"
    try:
        remote: dict[str, int] = {}
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket.name, Prefix=base)
        for page in pages:
            remote.update(
                {str(item["Key"]): int(item["Size"]) for item in page.get("Contents", [])}
            )
        uploaded = []
        for path in sorted(root.glob("*/*/*.parquet")):
            key = base + path.relative_to(root).as_posix()
            if remote.get(key) != path.stat().st_size:
                client.upload_file(str(path), bucket.name, key)
                uploaded.append(key)
    except (BotoCoreError, ClientError, OSError) as exc:
        raise BackupError(f"archive upload to s3://{bucket.name}/{base}: {exc}") from None
    return uploaded
