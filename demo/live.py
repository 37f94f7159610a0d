"""Live data of the demo API under ASGI: GraphQL subscriptions over WebSocket at /graphql
(strawberry, graphql-transport-ws and graphql-ws) and the items' event stream
(GET /rest/items/events, text/event-stream). Both trust the caller only through the bearer
token of the request or of the WebSocket handshake."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from demo.auth import (
    Caller,
    InvalidToken,
    ProviderUnavailable,
    bearer_required,
    bearer_token,
    verify_token,
)
from demo.schema import added_items, schema

# A comment line after this many quiet polls (15 s) keeps proxies from closing a quiet
# stream, and lets the server in front notice a client that has gone.
KEEP_ALIVE_EVERY = 75


class Subscriptions(GraphQL):
    """Strawberry's ASGI app; the caller is the one the handshake's token names."""

    async def get_context(self, request: Any, response: Any = None) -> Any:
        return SimpleNamespace(request=SimpleNamespace(caller=request.scope["demo.caller"]))


subscriptions = Subscriptions(
    schema,
    graphql_ide=None,
    subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
)


def _caller(scope: dict[str, Any]) -> Caller:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    return verify_token(bearer_token(headers.get("authorization")))


async def websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A WebSocket handshake with a valid bearer token goes to strawberry; others get 401."""
    if scope["path"].rstrip("/") != "/graphql":
        await receive()
        await send({"type": "websocket.close", "code": 1008})
        return
    try:
        caller = await sync_to_async(_caller, thread_sensitive=False)(scope)
    except (InvalidToken, ProviderUnavailable) as exc:
        await receive()
        status = 503 if isinstance(exc, ProviderUnavailable) else 401
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        body = json.dumps({"error": "invalid_token" if status == 401 else "unavailable"})
        await send({"type": "websocket.http.response.body", "body": body.encode()})
        return
    await subscriptions({**scope, "demo.caller": caller}, receive, send)


def with_live_data(http_application: Callable[..., Awaitable[None]]) -> Any:
    async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await websocket(scope, receive, send)
        else:
            await http_application(scope, receive, send)

    return application


async def _item_events(caller: Caller) -> AsyncIterator[bytes]:
    yield b": items\n\n"
    async for item in added_items(caller, quiet_every=KEEP_ALIVE_EVERY):
        if item is None:
            yield b": keep-alive\n\n"
            continue
        data = {"id": item.id, "name": item.name, "created_at": item.created_at.isoformat()}
        yield f"event: item-added\nid: {item.id}\ndata: {json.dumps(data)}\n\n".encode()


@bearer_required
def item_events(request: HttpRequest) -> HttpResponse:
    """GET: the caller's items as they are added, as server-sent events (under ASGI)."""
    response = StreamingHttpResponse(_item_events(request.caller), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    return response
