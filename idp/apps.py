"""App config of the built-in OpenID Provider."""

from __future__ import annotations

from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in, user_login_failed


class IdpConfig(AppConfig):
    """The provider's accounts, pages and OAuth extensions."""

    name = "idp"
    verbose_name = "Built-in OpenID Provider"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from idp import acr, throttle

        user_login_failed.connect(
            throttle.record_failed_sign_in, dispatch_uid="idp.throttle.record_failed_sign_in"
        )
        user_logged_in.connect(
            throttle.reset_after_sign_in, dispatch_uid="idp.throttle.reset_after_sign_in"
        )
        user_logged_in.connect(acr.password_sign_in, dispatch_uid="idp.acr.password_sign_in")
