"""Configuration checks of the OIDC relying party."""

from __future__ import annotations

from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from oidc.conf import oidc_settings


@register(Tags.security)
def check_providers(app_configs, **kwargs):
    try:
        providers = oidc_settings.providers()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="accounts.E001")]
    if not providers:
        return [
            Error("No OIDC provider is configured.", hint="Set OIDC_ISSUER.", id="accounts.E002")
        ]
    return []


@register(Tags.security, deploy=True)
def check_provider_transport(app_configs, **kwargs):
    problems = []
    for name, config in oidc_settings.providers().items():
        if not config.issuer.startswith("https://"):
            problems.append(
                Warning(
                    f"OIDC provider {name!r} is not reached over https.",
                    hint="Use the provider's https issuer URL in production.",
                    id="accounts.W001",
                )
            )
    return problems
