"""URLs of the demo API; unknown paths and crashes answer JSON like everything else."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from demo import live, views

urlpatterns = [
    path("healthz", views.healthz),
    path("rest/items", views.items),
    path("rest/vault", views.vault),
    path("rest/items/events", live.item_events),
    path("graphql", views.graphql),
    path("billing/summary", views.billing_summary),
]


def not_found(request: HttpRequest, exception: Exception) -> JsonResponse:
    """404 in JSON."""
    return views.error(404, "not_found", "no such resource")


def server_error(request: HttpRequest) -> JsonResponse:
    """500 in JSON, without details."""
    return views.error(500, "server_error", "internal error")


def bad_request(request: HttpRequest, exception: Exception) -> JsonResponse:
    """400 in JSON, e.g. a disallowed Host header."""
    return views.error(400, "bad_request", "bad request")


handler400 = bad_request
handler404 = not_found
handler500 = server_error
