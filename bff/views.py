"""Server-rendered pages and health checks."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.exceptions import ProviderUnavailable
from bff.bearer import NotSignedIn
from bff.client import UpstreamError, upstream
from bff.exceptions import SessionEnded
from bff.responses import json_error, provider_unavailable, session_over, wants_json

DASHBOARD_QUERY = "query Dashboard { me { sub email name } showPrivateStuff }"


@never_cache
@require_GET
def dashboard_view(request: HttpRequest) -> HttpResponse:
    """The signed-in home page, with private data fetched upstream on the server."""
    context: dict[str, object] = {}
    try:
        context["data"] = upstream(request, "graphql").query(DASHBOARD_QUERY)
    except KeyError:
        context["error"] = "No GraphQL upstream is configured."
    except NotSignedIn:
        context["error"] = "This account has no upstream token (signed in without a provider)."
    except SessionEnded:
        return session_over(request)
    except ProviderUnavailable as exc:
        return provider_unavailable(request, exc.retry_after)
    except UpstreamError as exc:
        context["error"] = exc.message
    return render(request, "bff/dashboard.html", context)


@never_cache
@require_GET
def items_view(request: HttpRequest) -> HttpResponse:
    """Lists and adds items through /api/graphql with the page's JS module."""
    return render(request, "bff/items.html")


@login_not_required
@require_GET
def healthz_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@login_not_required
@never_cache
@require_GET
def readyz_view(request: HttpRequest) -> JsonResponse:
    """Ready when the database answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any database failure means not ready
        return JsonResponse({"ready": False, "database": type(exc).__name__}, status=503)
    return JsonResponse({"ready": True})


def _error(request: HttpRequest, status: int, error: str, title: str, message: str) -> HttpResponse:
    """The one error response: JSON for the API, a page for people."""
    if wants_json(request):
        return json_error(status, error, message)
    context = {"status": status, "title": title, "message": message}
    # A 500 may come from a broken database: render without the request's context
    # processors, which would look the user up.
    return render(request if status < 500 else None, "error.html", context, status=status)


def bad_request_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(
        request, 400, "bad_request", "Bad request", "The request could not be understood."
    )


def permission_denied_view(
    request: HttpRequest, exception: Exception | None = None
) -> HttpResponse:
    return _error(request, 403, "forbidden", "Not allowed", "You are not allowed to do that.")


def csrf_failure_view(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _error(
        request,
        403,
        "csrf_failed",
        "Form expired",
        "This form has expired or did not come from this site. Go back, reload and try again.",
    )


def not_found_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404, "not_found", "Not found", "There is nothing at this address.")


def server_error_view(request: HttpRequest) -> HttpResponse:
    return _error(
        request, 500, "server_error", "Something went wrong", "Something went wrong on our side."
    )
