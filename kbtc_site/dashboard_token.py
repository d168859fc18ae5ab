"""The original's shared bearer token (``DASHBOARD_API_TOKEN``, domain.md §9.1), accepted beside
the per-user knox tokens so that the original's scripts keep working.

It authenticates as an operator that is no user: controls it sends are audited under the
actor "dashboard token" (``ControlAudit.actor_label``). Compared in constant time; a bearer
value that is not this token falls through to knox, which refuses it with 401.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header

if TYPE_CHECKING:
    from rest_framework.request import Request

ACTOR_LABEL = "dashboard token"


class DashboardTokenUser:
    """An operator for the permission checks; ``pk`` None: no row in the users table."""

    pk = None
    id = None
    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = True
    is_superuser = False
    username = ACTOR_LABEL

    def get_username(self) -> str:
        return ACTOR_LABEL

    def __str__(self) -> str:
        return ACTOR_LABEL


class DashboardTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[DashboardTokenUser, None] | None:
        expected = settings.DASHBOARD_API_TOKEN
        if not expected:
            return None
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            return None
        if not hmac.compare_digest(parts[1], expected.encode()):
            return None
        return DashboardTokenUser(), None

    def authenticate_header(self, request: Request) -> str:
        # The first authentication class names the scheme of a 401: Bearer, as knox's.
        return "Bearer"


class DashboardTokenScheme(OpenApiAuthenticationExtension):
    target_class = "kbtc_site.dashboard_token.DashboardTokenAuthentication"
    name = "dashboardToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "the shared DASHBOARD_API_TOKEN (audited as 'dashboard token')",
        }
