"""A live-data upstream for the gateway's tests: server-sent events and a WebSocket echo, as a
plain ASGI application (served by uvicorn, tests/support/asgi.py).

    GET /events/burst?n=N          N events "id: i / data: event-i", as fast as it can
    GET /events/timed?n=N&gap=S    N events whose data is time.monotonic() when sent, S apart
    GET /events/ticks?gap=S        a tick every S seconds until the client goes
    WS  /ws/echo                   echoes every message; accepts the first subprotocol offered

It records the Authorization header of every request and handshake (`authorizations`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs


class LiveUpstream:
    def __init__(self) -> None:
        self.authorizations: list[str] = []
        self.open_sockets = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return
        headers = dict(scope["headers"])
        self.authorizations.append(headers.get(b"authorization", b"").decode())
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        if scope["type"] == "websocket":
            await self.echo(scope, receive, send)
        else:
            await self.events(scope["path"], query, receive, send)

    async def events(self, path: str, query: dict[str, str], receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        gap = float(query.get("gap", "0.1"))
        count = int(query.get("n", "0"))
        await receive()  # the (empty) request body
        disconnected = asyncio.ensure_future(receive())
        try:
            index = 0
            while path.endswith("/ticks") or index < count:
                if disconnected.done():
                    return
                if path.endswith("/burst"):
                    body = f"id: {index}\ndata: event-{index}\n\n"
                elif path.endswith("/timed"):
                    await asyncio.sleep(gap)
                    body = f"data: {time.monotonic()!r}\n\n"
                else:
                    await asyncio.sleep(gap)
                    body = f"event: tick\ndata: {index}\n\n"
                await send({"type": "http.response.body", "body": body.encode(), "more_body": True})
                index += 1
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            disconnected.cancel()

    async def echo(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()  # websocket.connect
        offered = scope.get("subprotocols") or []
        await send({"type": "websocket.accept", "subprotocol": offered[0] if offered else None})
        self.open_sockets += 1
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") == "close-4321":
                    await send({"type": "websocket.close", "code": 4321, "reason": "asked"})
                    return
                key = "text" if message.get("text") is not None else "bytes"
                await send({"type": "websocket.send", key: message[key]})
        finally:
            self.open_sockets -= 1
