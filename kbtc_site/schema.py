"""OpenAPI schema hooks (drf-spectacular)."""

from __future__ import annotations

from typing import Any


def drop_slash_twins(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """Every API path is served with and without a trailing slash; document it once, in the
    original's form without the slash."""
    paths = {endpoint[0] for endpoint in endpoints}
    return [
        endpoint
        for endpoint in endpoints
        if not (endpoint[0].endswith("/") and endpoint[0].rstrip("/") in paths)
    ]
