"""API permission: reads per the anonymous-reads setting, writes only for operators."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


def is_operator(user: object) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_staff", False))


class OperatorOrReadOnly(BasePermission):
    """Operators may change state; everyone else may read when anonymous reads are on."""

    message = "An authenticated operator is required."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not settings.API_AUTH:  # development only: production refuses to start this way
            return True
        if request.method in SAFE_METHODS:
            if settings.ANONYMOUS_READS:
                return True
            return bool(request.user and request.user.is_authenticated)
        return is_operator(request.user)
