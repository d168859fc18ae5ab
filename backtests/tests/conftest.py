from __future__ import annotations

from collections.abc import Iterator

import pytest

from backtests import search


@pytest.fixture(autouse=True)
def _close_optuna_storage() -> Iterator[None]:
    """Optuna's own connections to the test database end with each test (else the test
    database cannot be dropped)."""
    yield
    search.close_storage()
