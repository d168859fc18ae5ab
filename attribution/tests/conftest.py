# The notification tests' local Discord stand-in and eager Celery.
from trading.tests.notifications.conftest import eager, server, webhooks  # noqa: F401
