"""Benchmarks: ``python bench/run.py NAME [--smoke]`` prints one JSON object as its last line.

Each benchmark is a module ``bench/<name>.py`` with ``run(*, smoke: bool) -> dict``. The
runner adds ``python`` and checks the keys every benchmark must report (interfaces.md §10):
``events``, ``seconds``, ``stream_sha256``. ``--smoke`` runs a small stream (CI does this once).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("events", "seconds", "stream_sha256")


def available() -> list[str]:
    return sorted(
        p.stem for p in Path(__file__).parent.glob("*.py") if p.stem not in ("run", "__init__")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", choices=available())
    parser.add_argument("--smoke", action="store_true", help="small stream, for CI")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kbtc_site.settings")
    module = importlib.import_module(f"bench.{args.name}")
    result = module.run(smoke=args.smoke)
    missing = [key for key in REQUIRED if key not in result]
    if missing:
        raise SystemExit(f"benchmark {args.name} did not report {missing}")
    result = {"benchmark": args.name, **result, "python": platform.python_version()}
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
