"""Import directions that keep the layers apart (interfaces.md §2): checked on the source, so
a new import in the wrong direction fails here rather than in a review."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def sources(package: str, *, tests: bool = False) -> list[Path]:
    return [
        path
        for path in sorted((ROOT / package).rglob("*.py"))
        if tests or "tests" not in path.relative_to(ROOT).parts
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
