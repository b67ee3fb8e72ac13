from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "sandbox"
    verbose_name = "Kite sandbox (paper trading)"
    default_auto_field = "django.db.models.BigAutoField"  # under any settings module (sandbox's or the app's)
