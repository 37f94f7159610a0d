"""The error responses of the BFF: JSON for /api and /auth/session, pages for people."""

from __future__ import annotations

import math
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from bff.logging import request_id_var

JSON_PATH_PREFIXES = ("/api/", "/auth/session")


def wants_json(request: HttpRequest) -> bool:
    path = request.path_info
    return path.startswith(JSON_PATH_PREFIXES) and not path.startswith("/auth/sessions")


def json_error(status: int, error: str, message: str, **extra: object) -> JsonResponse:
    body = {"error": error, "message": message, "request_id": request_id_var.get(), **extra}
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


def login_url(next_path: str) -> str:
    return "/auth/login?" + urlencode({"next": next_path})


def session_over(request: HttpRequest) -> HttpResponse:
    """401 JSON for the API; a redirect to sign-in (back to this page) for people."""
    if wants_json(request):
        referer_next = "/"
        return json_error(
            401,
            "session_expired",
            "Your session has ended. Sign in again.",
            login_url=login_url(referer_next),
        )
    response = HttpResponse(status=302)
    response["Location"] = login_url(request.get_full_path())
    return response


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
        response = render(
            request, "bff/provider_unavailable.html", {"retry_after": seconds}, status=503
        )
    response["Retry-After"] = str(seconds)
    return response
