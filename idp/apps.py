"""App config of the built-in OpenID Provider."""

from __future__ import annotations

from django.apps import AppConfig


class IdpConfig(AppConfig):
    """The provider's accounts, pages and OAuth extensions."""

    name = "idp"
    verbose_name = "Built-in OpenID Provider"
    default_auto_field = "django.db.models.BigAutoField"
