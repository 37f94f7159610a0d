"""Pushed authorization requests (RFC 9126), which django-oauth-toolkit does not offer.

The client POSTs its authorization parameters to the PAR endpoint with client
authentication (DOT's validator: client_secret_basic or client_secret_post) and gets a
`request_uri`; the browser then carries only client_id and request_uri to the authorization
endpoint, which reads the parameters back. They live in the provider's cache (IDP_CACHE_URL:
shared across workers) for IDP_PAR_SECONDS. With IDP_REQUIRE_PAR every authorization request
must be pushed, and discovery says so (require_pushed_authorization_requests).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import Request as OAuthRequest

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
CACHE_PREFIX = "idp-par:"
# Never taken from the pushed body into the authorization request.
NOT_PUSHED = frozenset({"client_secret", "client_assertion", "client_assertion_type"})


def _error(status: int, error: str, description: str) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    return response


@method_decorator([csrf_exempt, never_cache], name="dispatch")
class PushedAuthorizationView(View):
    """POST the authorization parameters; 201 {request_uri, expires_in}."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        uri, method, body, headers = get_oauthlib_core()._extract_params(request)
        oauth_request = OAuthRequest(uri, method, body, headers)
        validator = oauth2_settings.OAUTH2_VALIDATOR_CLASS()
        authenticated = validator.authenticate_client(oauth_request) or (
            not validator.client_authentication_required(oauth_request)
            and validator.authenticate_client_id(oauth_request.client_id, oauth_request)
        )
        if not authenticated:
            return _error(401, "invalid_client", "client authentication failed")
        client = oauth_request.client
        params = {k: v for k, v in request.POST.items() if k not in NOT_PUSHED}
        if params.setdefault("client_id", client.client_id) != client.client_id:
            return _error(400, "invalid_request", "client_id is not the authenticated client")
        if "request_uri" in params:
            return _error(400, "invalid_request", "request_uri must not be pushed")
        if params.get("response_type") != "code":
            return _error(400, "invalid_request", "response_type must be code")
        if not client.redirect_uri_allowed(params.get("redirect_uri", "")):
            return _error(400, "invalid_request", "redirect_uri is not registered")
        request_uri = push(params)
        response = JsonResponse(
            {"request_uri": request_uri, "expires_in": settings.IDP_PAR_SECONDS}, status=201
        )
        response["Cache-Control"] = "no-store"
        return response


def push(params: dict[str, str]) -> str:
    """Keep `params` for IDP_PAR_SECONDS; the request_uri that stands for them."""
    reference = secrets.token_urlsafe(32)
    cache.set(CACHE_PREFIX + reference, params, settings.IDP_PAR_SECONDS)
    return REQUEST_URI_PREFIX + reference


def resolve(request: HttpRequest) -> HttpResponse | dict[str, Any] | None:
    """For the authorization endpoint: the pushed parameters when the request names a
    request_uri (they replace the query), None for a plain request where that is allowed,
    or an error page."""
    request_uri = request.GET.get("request_uri")
    if request_uri is None:
        if settings.IDP_REQUIRE_PAR:
            return _page(request, "This provider takes only pushed authorization requests.")
        return None
    params = None
    if request_uri.startswith(REQUEST_URI_PREFIX):
        params = cache.get(CACHE_PREFIX + request_uri.removeprefix(REQUEST_URI_PREFIX))
    if params is None or params["client_id"] != request.GET.get("client_id"):
        return _page(request, "The authorization request expired or is unknown. Start again.")
    query = urlencode(params)
    request.META["QUERY_STRING"] = query
    request.GET = QueryDict(query)
    return params


def without_login_prompt(params: dict[str, str]) -> str:
    """The authorization URL to come back to after prompt=login's sign-in: the same pushed
    request less the prompt, so the way back is still a pushed request."""
    prompts = [p for p in params.get("prompt", "").split() if p != "login"]
    rest = {k: v for k, v in params.items() if k != "prompt"}
    if prompts:
        rest["prompt"] = " ".join(prompts)
    return urlencode({"client_id": params["client_id"], "request_uri": push(rest)})


def _page(request: HttpRequest, message: str) -> HttpResponse:
    error = {"error": "invalid_request", "description": message}
    return render(request, "idp/authorize.html", {"error": error}, status=400)
