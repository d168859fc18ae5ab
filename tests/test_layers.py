"""Import directions that keep the layers apart (interfaces.md §2): checked on the source, so
a new import in the wrong direction fails here rather than in a review."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def sources(package: str) -> list[Path]:
    """The package's modules, its tests left out."""
    return [
        path
        for path in sorted((ROOT / package).rglob("*.py"))
        if "tests" not in path.relative_to(ROOT).parts
    ]


def offending(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in paths
        for module in imported_modules(path)
        if any(module == name or module.startswith(name + ".") for name in forbidden)
    ]


def test_imported_modules_reads_both_import_forms(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import a.b\nfrom c.d import e\nfrom . import f\n")
    assert list(imported_modules(module)) == ["a.b", "c.d"]


def test_the_bottom_package_imports_no_app() -> None:
    assert sources("kbtc_core")
    assert offending(sources("kbtc_core"), ("trading", "marketdata", "kbtc_site")) == []


@pytest.mark.parametrize("app", ["trading", "marketdata", "backtests", "attribution", "mlgate"])
def test_no_app_imports_the_site_layer(app: str) -> None:
    assert offending(sources(app), ("kbtc_site",)) == []


# The demo's and the chaos runs' wiring: the only production modules that may load the
# simulator.
SIMULATOR_WIRING = {
    "trading/runtime/embedded.py",  # builds the demo's exchange and the --sim-stream daemon
    "trading/runtime/feeds.py",  # the in-process simulator stream
    "marketdata/management/commands/simulate_exchange.py",  # the simulator's own command
    "kbtc_site/management/commands/demo_disk.py",  # runs the demo's trader on the simulator
    "trading/chaos/harness.py",  # chaos and the canary host the simulator they trade on
    "trading/chaos/account.py",  # ... and check its account
    "trading/management/commands/canary.py",  # ... and take its fault options
}


def test_only_the_demo_wiring_imports_the_simulator() -> None:
    paths = [
        path
        for app in ("kbtc_core", "kbtc_site", "trading", "marketdata")
        for path in sources(app)
        if "sim" not in path.relative_to(ROOT).parts[1:2]
        and str(path.relative_to(ROOT)) not in SIMULATOR_WIRING
    ]
    assert offending(paths, ("marketdata.sim",)) == []


@pytest.mark.slow
def test_run_trader_and_the_web_app_load_no_simulator_module() -> None:
    """In a fresh interpreter: what production imports, and nothing of the simulator."""
    script = (
        "import importlib, sys, django; django.setup()\n"
        "for name in ('trading.management.commands.run_trader', 'kbtc_site.asgi',"
        " 'kbtc_site.urls', 'trading.tasks', 'marketdata.management.commands.backfill_klines',"
        " 'marketdata.management.commands.import_history'):\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('marketdata.sim')))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "kbtc_site.settings"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
