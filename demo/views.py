"""HTTP views of the demo API: REST items, the GraphQL endpoint and a health check."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import GraphQLView

from demo.auth import acr_required, bearer_required, billing_bearer_required
from demo.items import InvalidItemName, add_item, list_items
from demo.models import Item
from demo.schema import schema


def error(status: int, code: str, message: str) -> JsonResponse:
    """A JSON error body in the REST shape."""
    return JsonResponse({"error": code, "message": message}, status=status)


def method_not_allowed(allowed: list[str]) -> JsonResponse:
    """405 with the Allow header."""
    response = error(405, "method_not_allowed", f"use {' or '.join(allowed)}")
    response["Allow"] = ", ".join(allowed)
    return response


def item_json(item: Item) -> dict[str, Any]:
    """An item as the REST API shows it."""
    return {"id": item.id, "name": item.name, "created_at": item.created_at.isoformat()}


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: no token and no database needed."""
    return JsonResponse({"status": "ok"})


@csrf_exempt  # Bearer-only: no cookie authenticates a request, so there is nothing to forge.
def items(request: HttpRequest) -> HttpResponse:
    """GET lists the caller's items; POST {"name": ...} adds one."""
    # Method first: a 405 tells nothing about tokens, and spares the verification.
    if request.method not in ("GET", "POST"):
        return method_not_allowed(["GET", "POST"])
    return _items(request)


@bearer_required
def _items(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return JsonResponse({"items": [item_json(i) for i in list_items(request.caller)]})
    try:
        body = json.loads(request.body)
    except RequestDataTooBig:
        return error(413, "too_large", "request body too large")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return error(400, "invalid_json", "request body must be a JSON object")
    if not isinstance(body, dict) or "name" not in body:
        return error(400, "invalid_request", 'request body must be a JSON object with "name"')
    try:
        item = add_item(request.caller, body["name"])
    except InvalidItemName as exc:
        return error(400, "invalid_name", str(exc))
    return JsonResponse(item_json(item), status=201)


def vault(request: HttpRequest) -> HttpResponse:
    """GET: something only a stepped-up sign-in may see (the token's acr must be strong)."""
    if request.method != "GET":
        return method_not_allowed(["GET"])
    return _vault(request)


@bearer_required
@acr_required
def _vault(request: HttpRequest) -> HttpResponse:
    claims = request.caller.claims
    return JsonResponse(
        {
            "message": "The vault is open: your sign-in was strong enough.",
            "acr": claims.get("acr"),
            "auth_time": claims.get("auth_time"),
        }
    )


class JSONGraphQLView(GraphQLView):
    """Strawberry's view, answering its transport errors in JSON rather than plain text."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().dispatch(request, *args, **kwargs)
        # Strawberry answers transport errors (bad JSON, no query, wrong content type) as
        # text/plain; re-wrap them so every error of this API is JSON.
        if response.status_code >= 400 and response["Content-Type"].startswith("text/plain"):
            message = response.content.decode(errors="replace")
            return JsonResponse({"errors": [{"message": message}]}, status=response.status_code)
        return response


_graphql_view = JSONGraphQLView.as_view(
    schema=schema, graphql_ide=None, allow_queries_via_get=False
)


@csrf_exempt  # Bearer-only, as above.
def graphql(request: HttpRequest) -> HttpResponse:
    """POST application/json GraphQL; a bad token is HTTP 401, not 200 with errors."""
    if request.method != "POST":
        return method_not_allowed(["POST"])
    return _graphql(request)


@bearer_required
def _graphql(request: HttpRequest) -> HttpResponse:
    return _graphql_view(request)


@csrf_exempt  # Bearer-only, as above.
def billing_summary(request: HttpRequest) -> HttpResponse:
    """GET: the caller's billing summary; only a token minted for the billing API gets here."""
    if request.method != "GET":
        return method_not_allowed(["GET"])
    return _billing_summary(request)


@billing_bearer_required
def _billing_summary(request: HttpRequest) -> HttpResponse:
    caller = request.caller
    return JsonResponse(
        {"subject": caller.subject, "audience": caller.claims["aud"], "plan": "demo", "due": 0}
    )
