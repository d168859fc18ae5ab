"""The REST API's answer when the database is away: 503 with what happened, not a bare 500;
and, for paths under ``/api/`` that no view answers (an unknown path, a server error), JSON
instead of Django's HTML pages.

A control is one durable transaction: it committed whole or not at all. An outage met
before the commit (nearly always: the token check reads the database first) changed
nothing; one met while reading the answer after the commit did. The answer cannot tell
which, so it says where to look before sending the control again.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
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
        detail = (
            f"the database is unavailable ({type(exc).__name__}): the request did not complete;"
            " check GET /api/controls once it is back before sending a control again"
        )
        return Response({"detail": detail}, status=503, headers={"Retry-After": "5"})
    return exception_handler(exc, context)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": f"no such API path: {request.path}"}, status=404)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "server error (logged)"}, status=500)
    return defaults.server_error(request)
