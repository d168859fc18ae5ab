from __future__ import annotations

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularSwaggerSplitView,
)

from kbtc_site.health import healthz
from kbtc_site.metrics import metrics

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # browsers ask for /favicon.ico on pages without an icon link (the admin, the API docs)
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("trading.api.urls")),
    path("api/", include("backtests.api")),
    path("backtests/", include("backtests.urls")),
    path("", include("trading.urls")),
]

handler404 = "kbtc_site.api_errors.handler404"
handler500 = "kbtc_site.api_errors.handler500"
