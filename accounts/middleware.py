"""django-csp's middleware, with the sign-in providers allowed as form targets, and the policy
built once instead of on every response."""

from __future__ import annotations

from dataclasses import asdict
from urllib.parse import urlsplit

from csp.constants import HEADER
from csp.middleware import CheckableLazyObject, CSPMiddleware, PolicyParts
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
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


# The policy header as built for each set of provider origins; dropped when the policy
# setting changes (override_settings).
_built: dict[tuple[str, ...], str] = {}


@receiver(setting_changed, dispatch_uid="accounts.csp_policy_changed")
def _policy_changed(*, setting: str, **kwargs: object) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _built.clear()


# What a view or decorator may set on a response to change its policy (django-csp).
_PER_RESPONSE = tuple(
    f"_csp_{kind}{suffix}" for kind in ("config", "update", "replace") for suffix in ("", "_ro")
)


class ProviderAwareCSPMiddleware(CSPMiddleware):
    """Browsers check a form's whole redirect chain against form-action: the sign-out form
    posts here and is redirected to the provider's end-session endpoint.

    Building the header takes django-csp about 0.1 ms; a response with the configured policy
    (no nonce used, no per-view change, no report-only policy) gets the header built once
    per set of provider origins.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if (
            getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in _PER_RESPONSE)
            or getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
            or settings.DEBUG
        ):
            return super().process_response(request, response)
        origins = tuple(provider_origins())
        header = _built.get(origins)
        if header is None:
            parts = self.get_policy_parts(request=request, response=response)
            header = _built[origins] = build_policy(**asdict(parts))
        excluded = (getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}).get(
            "EXCLUDE_URL_PREFIXES"
        ) or ()
        if (
            header
            and HEADER not in response
            and not getattr(response, "_csp_exempt", False)
            and not request.path_info.startswith(tuple(excluded))
        ):
            response[HEADER] = header
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        update = dict(parts.update or {})
        update["form-action"] = [*update.get("form-action", []), *provider_origins()]
        parts.update = update
        return parts
