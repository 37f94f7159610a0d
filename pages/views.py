"""Server-rendered pages and health checks."""

from __future__ import annotations

import sys

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from bff import health, metrics
from bff.client import upstream
from bff.conf import bff_settings
from bff.exceptions import NotSignedIn, UpstreamError
from bff.responses import HANDLED, error, error_response
from bff.stores import database_store

# What a client is told to wait when the database is out.
STORE_RETRY_AFTER_SECONDS = 5

DASHBOARD_QUERY = "query Dashboard { me { sub email name } showPrivateStuff }"


@never_cache
@require_GET
def dashboard_view(request: HttpRequest) -> HttpResponse:
    """The signed-in home page, with private data fetched upstream on the server."""
    context: dict[str, object] = {}
    try:
        context["data"] = upstream(request, "graphql").query(DASHBOARD_QUERY)
        context["billing"] = billing_summary(request)
    except KeyError:
        context["error"] = "No GraphQL upstream is configured."
    except NotSignedIn:
        context["error"] = "This account has no upstream token (signed in without a provider)."
    except UpstreamError as exc:
        context["error"] = exc.message
    except HANDLED as exc:
        return error_response(request, exc)
    return render(request, "pages/dashboard.html", context)


def billing_summary(request: HttpRequest) -> dict[str, object] | None:
    """The demo billing API's answer (it takes only a token minted for it, docs/gateway.md);
    None when no `billing` upstream is configured."""
    try:
        reply = upstream(request, "billing").get("summary")
    except KeyError:
        return None
    except UpstreamError as exc:
        return {"error": exc.message}
    try:
        body = reply.json() if reply.status_code == 200 else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return {"error": f"The billing API answered {reply.status_code}."}
    return {"audience": body.get("audience"), "plan": body.get("plan")}


@never_cache
@require_GET
def items_view(request: HttpRequest) -> HttpResponse:
    """Lists and adds items through /api/graphql with the page's JS module; items added
    elsewhere arrive live (the itemAdded subscription)."""
    return render(
        request, "pages/items.html", {"websocket_url": bff_settings.BFF_LIVE_WEBSOCKET_URL}
    )


@login_not_required
@require_GET
def healthz_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@login_not_required
@never_cache
@require_GET
def readyz_view(request: HttpRequest) -> JsonResponse:
    """Ready when the required stores answer (BFF_READY_REQUIRED_CHECKS; by default the
    database); every check's result is named, failing or not."""
    readiness = health.readiness()
    body = {"ready": readiness.ready, "checks": readiness.checks, "failed": readiness.failed}
    response = JsonResponse(body, status=200 if readiness.ready else 503)
    if not readiness.ready:
        response["Retry-After"] = str(STORE_RETRY_AFTER_SECONDS)
    return response


@login_not_required
@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, for BFF_METRICS_ALLOWED_IPS (and BFF_METRICS_TOKEN when set)."""
    refused = metrics.scrape_refusal(request)
    if refused is not None:
        return refused
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)


def bad_request_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error(request, 400, "bad_request", "Bad request", "The request could not be understood.")


def permission_denied_view(
    request: HttpRequest, exception: Exception | None = None
) -> HttpResponse:
    return error(request, 403, "forbidden", "Not allowed", "You are not allowed to do that.")


def csrf_failure_view(request: HttpRequest, reason: str = "") -> HttpResponse:
    return error(
        request,
        403,
        "csrf_failed",
        "Form expired",
        "This form has expired or did not come from this site. Go back, reload and try again.",
    )


def not_found_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error(request, 404, "not_found", "Not found", "There is nothing at this address.")


def server_error_view(request: HttpRequest) -> HttpResponse:
    exc = sys.exc_info()[1]
    if isinstance(exc, DatabaseError):
        # An outage of the database is no bug of ours: 503, and the client may retry.
        database_store.failed("request", exc)
        response = error(
            request,
            503,
            "store_unavailable",
            "Try again shortly",
            "We cannot reach our database just now. Try again in a few seconds.",
        )
        response["Retry-After"] = str(STORE_RETRY_AFTER_SECONDS)
        return response
    return error(
        request, 500, "server_error", "Something went wrong", "Something went wrong on our side."
    )
