from django.apps import AppConfig


class MlgateConfig(AppConfig):
    name = "mlgate"
    verbose_name = "ML gate"
