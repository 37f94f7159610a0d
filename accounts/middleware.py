"""django-csp's middleware, with the sign-in providers allowed as form targets."""

from __future__ import annotations

from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from oidc.conf import oidc_settings
from oidc.provider import get_provider


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else None


def provider_origins() -> list[str]:
    """Where signing out may send a submitted form: each provider's issuer, and its
    end-session endpoint when its metadata is at hand (never fetched for a page)."""
    origins = []
    for name, config in oidc_settings.providers().items():
        endpoint = get_provider(name).known_endpoint("end_session_endpoint")
        for url in (config.issuer, endpoint or ""):
            origin = _origin(url)
            if origin and origin not in origins:
                origins.append(origin)
    return origins


class ProviderAwareCSPMiddleware(CSPMiddleware):
    """Browsers check a form's whole redirect chain against form-action: the sign-out form
    posts here and is redirected to the provider's end-session endpoint."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        update = dict(parts.update or {})
        update["form-action"] = [*update.get("form-action", []), *provider_origins()]
        parts.update = update
        return parts
