"""App config of the demo API."""

from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo API: items owned by a token's (issuer, subject)."""

    name = "demo"
    verbose_name = "Demo API"
    default_auto_field = "django.db.models.BigAutoField"
