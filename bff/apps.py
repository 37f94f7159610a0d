from django.apps import AppConfig


class BffConfig(AppConfig):
    name = "bff"
    verbose_name = "Token sessions and API gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from bff import checks, receivers  # noqa: F401 - registers checks and receivers
        from bff.live import streams  # noqa: F401 - stops the streams of ended sessions
