"""The error responses of the BFF, JSON for the API and pages for people, and the one
mapping from the token lifecycle's and the gateway's exceptions to them."""

from __future__ import annotations

import logging
import math
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render, resolve_url
from django.urls import reverse

from bff.conf import bff_settings
from bff.decorators import marked
from bff.exceptions import NotSignedIn, SessionEnded, UpstreamError
from bff.logging import request_id_var
from bff.redirects import safe_next
from oidc.exceptions import ProviderError, ProviderUnavailable

logger = logging.getLogger(__name__)


def wants_json(request: HttpRequest) -> bool:
    """The request went to a view marked @json_api (the gateway, the session JSON)."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return marked(match.func, "bff_json_api")
    # No view was chosen (an unknown address, a bad Host header): JSON under the API's URLs.
    path = request.path_info
    for name in bff_settings.BFF_JSON_URL_NAMES:
        base = reverse(name).rstrip("/")
        if path == base or path.startswith(base + "/"):
            return True
    return False


def json_error(status: int, error: str, message: str, **extra: object) -> JsonResponse:
    body = {"error": error, "message": message, "request_id": request_id_var.get(), **extra}
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


def login_url(next_path: str) -> str:
    return resolve_url(settings.LOGIN_URL) + "?" + urlencode({"next": next_path})


def session_over(request: HttpRequest, reason: str | None = None) -> HttpResponse:
    """The session is over (`reason` says why), or there never was one (None).

    The API answers 401 JSON whose `login_url` leads to sign-in (through the page that says
    why, when there is a why); people are sent there, back to this page afterwards.
    """
    if reason is None:
        target = login_url(request.get_full_path())
    else:
        target = ended_url(request.get_full_path())
    if wants_json(request):
        if reason is None:
            return json_error(401, "not_signed_in", "Sign in first.", login_url=login_url("/"))
        return json_error(
            401,
            "session_expired",
            "Your session has ended. Sign in again.",
            reason=reason,
            login_url=ended_url("/"),
        )
    response = HttpResponse(status=302)
    response["Location"] = target
    return response


def ended_url(next_path: str) -> str:
    """The page that tells a person why their session ended, then offers to sign in."""
    return resolve_url(bff_settings.BFF_SESSION_ENDED_URL) + "?" + urlencode({"next": next_path})


def provider_unavailable(request: HttpRequest, retry_after: float | None) -> HttpResponse:
    seconds = max(1, math.ceil(retry_after or 5))
    if wants_json(request):
        response = json_error(
            503,
            "provider_unavailable",
            "The sign-in provider is unavailable. Try again shortly.",
            retry_after=seconds,
        )
    else:
        # The link back is built from request data: only ever a same-origin path.
        context = {"retry_after": seconds, "retry_url": safe_next(request.get_full_path())}
        response = render(request, "bff/provider_unavailable.html", context, status=503)
    response["Retry-After"] = str(seconds)
    return response


def error_response(request: HttpRequest, exc: Exception) -> HttpResponse:
    """The response for an exception of the token lifecycle or an upstream call."""
    if isinstance(exc, NotSignedIn):
        return session_over(request)
    if isinstance(exc, SessionEnded):
        return session_over(request, exc.reason or "ended")
    if isinstance(exc, ProviderUnavailable):
        return provider_unavailable(request, exc.retry_after)
    if isinstance(exc, UpstreamError):
        return error(request, exc.status, exc.error, "The data could not be loaded", exc.message)
    if isinstance(exc, ProviderError):
        # A client-credentials token request the provider refused (misconfiguration).
        logger.warning("the provider refused a token request: %s", exc.error)
        return error(
            request,
            502,
            "provider_error",
            "Sign-in provider error",
            "The sign-in provider refused a token.",
        )
    raise exc


def error(request: HttpRequest, status: int, error: str, title: str, message: str) -> HttpResponse:
    """The one error response: JSON for the API, a page for people."""
    if wants_json(request):
        return json_error(status, error, message)
    context = {"status": status, "title": title, "message": message}
    # A 500 may come from a broken database: render without the request's context
    # processors, which would look the user up.
    return render(request if status < 500 else None, "error.html", context, status=status)


# What error_response answers; callers catch these.
HANDLED = (NotSignedIn, SessionEnded, ProviderUnavailable, UpstreamError, ProviderError)
