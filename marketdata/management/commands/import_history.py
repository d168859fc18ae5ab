"""``manage.py import_history PATH``: a Binance-format 1-minute kline CSV into ``Candle``."""

from __future__ import annotations

import io
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from tqdm import tqdm

from marketdata.history.klines import KlineFormatError, open_kline_file, read_kline_file
from marketdata.history.store import KlineImport, klines_store
from marketdata.models import Candle


class Command(BaseCommand):
    help = (
        "Load a Binance-format 1-minute kline CSV (plain, .gz, .xz or .bz2) into the candle "
        "table and roll it up to 15-minute bars. Running it again changes nothing."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--source", default=Candle.SOURCE_BINANCE)
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(
        self, *args: Any, path: Path, source: str, no_progress: bool, **options: Any
    ) -> None:
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        started = time.monotonic()
        result = import_file(path, source=source, progress=not no_progress)
        self.stdout.write(
            f"{path.name}: read {result.read} rows ({result.first} .. {result.last}), "
            f"{result.inserted} new 1-minute bars, {result.read - result.inserted} already "
            f"stored, {result.quarter_bars_written} 15-minute bars written "
            f"in {time.monotonic() - started:.1f} s"
            + (f" {result.timings}" if result.timings else "")
        )


def import_file(path: Path, *, source: str, progress: bool) -> KlineImport:
    """The command's unit of work, callable from tests and other commands."""
    size = path.stat().st_size
    with (
        tqdm(total=size, unit="B", unit_scale=True, desc=path.name, disable=not progress) as bar,
        path.open("rb", buffering=0) as raw,
        open_kline_file(_CountedReader(raw, bar)) as lines,
    ):
        try:
            return klines_store(read_kline_file(lines, name=path.name), source=source)
        except (KlineFormatError, DatabaseError) as exc:
            raise CommandError(f"{path}: {exc}") from exc


class _CountedReader(io.RawIOBase):
    """Advances the progress bar by the (compressed) bytes read from the file."""

    def __init__(self, raw: io.FileIO, bar: tqdm[Any]) -> None:
        self._raw = raw
        self._bar = bar

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._raw.readinto(buffer) or 0
        self._bar.update(count)
        return count
