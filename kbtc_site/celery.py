"""The Celery app: Redis broker in the server profile, eager in the embedded demo."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kbtc_site.settings")

app = Celery("kbtc_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["trading.notifications"])  # a package inside an app
