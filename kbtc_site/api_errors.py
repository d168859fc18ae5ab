"""The REST API's answer when the database is away: 503 with what happened, not a bare 500.

A control is one durable transaction, so a control that meets an outage changed nothing;
the answer says so, and that it is safe to send again.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.db import InterfaceError, OperationalError
from rest_framework.response import Response
from rest_framework.views import exception_handler

log = structlog.get_logger(__name__)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, OperationalError | InterfaceError):
        request = context.get("request")
        log.error(
            "api_database_unavailable",
            path=getattr(request, "path", None),
            method=getattr(request, "method", None),
            error=str(exc).strip(),
        )
        detail = "the database is unavailable: nothing was changed; try again shortly"
        return Response({"detail": detail}, status=503, headers={"Retry-After": "5"})
    return exception_handler(exc, context)
