from django.apps import AppConfig


class KiteConfig(AppConfig):
    name = "kite"
    verbose_name = "Kite Connect"
