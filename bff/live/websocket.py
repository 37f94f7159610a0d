"""WebSockets through /api/<upstream>/... and /api/graphql: an ASGI application.

The handshake is accepted only with the session cookie of a live session and an Origin on
the allowlist (this host's own origin, or DJANGO_CSRF_TRUSTED_ORIGINS): a browser cannot
set X-CSRF on a WebSocket, so the Origin check and SameSite stop cross-site WebSocket
hijacking. The session is checked with the service API (sessions.record_of,
refresh.ensure_fresh, sessions.is_session_user), the upstream is resolved as for any /api
call (proxy.resolve), and the upstream's handshake carries Authorization: Bearer with the
fresh token; the browser's subprotocols are offered upstream and the one it picks is the
one accepted. Messages flow both ways unchanged (a graphql-ws connection_init payload too).
A handshake refused answers JSON with an HTTP status where the server supports it (uvicorn
does), else 403.

Close codes the browser may see from the gateway itself (others come from the upstream):

    4401  the session has ended: sign in again (do not reconnect)
    4000  the token was renewed: reconnect now, the upstream gets the new one
    1012  the server is restarting: reconnect
    1013  the token cannot be refreshed now, or too many open streams: try again later
    1009  a message over BFF_LIVE_MAX_MESSAGE_BYTES
    1014  the upstream went away without a close code (bad gateway)
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, connections
from django.http import parse_cookie
from django.http.request import split_domain_port, validate_host
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from bff.bearer import bearer_for
from bff.conf import bff_settings
from bff.exceptions import NotSignedIn, SessionEnded
from bff.live.streams import (
    WEBSOCKET,
    Stop,
    TooManyStreams,
    close_stream,
    open_stream,
    stop_all,
)
from bff.logging import choose_request_id
from bff.models import TokenSession
from bff.proxy import Refused, resolve
from bff.refresh import ensure_fresh
from bff.sessions import django_session, is_session_user, record_of
from bff.upstreams import Upstream
from oidc import clock
from oidc.exceptions import ProviderError, ProviderUnavailable

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SESSION_ENDED = 4401
RECONNECT = 4000
SERVICE_RESTART = 1012
TRY_AGAIN_LATER = 1013
MESSAGE_TOO_BIG = 1009
BAD_GATEWAY = 1014
CLOSE_CODES = {
    Stop.SESSION_ENDED: SESSION_ENDED,
    Stop.TOKEN_RENEWED: RECONNECT,
    Stop.TOKEN_UNAVAILABLE: TRY_AGAIN_LATER,
    Stop.SHUTDOWN: SERVICE_RESTART,
}
# Close codes an endpoint may send (RFC 6455 7.4): the upstream's are relayed when they are.
_SENDABLE = {1000, 1001, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}


class HandshakeRefused(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


@dataclass
class Handshake:
    upstream: Upstream
    url: str
    headers: dict[str, str]
    record: TokenSession
    token: str | None


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def origin_allowed(origin: str | None, scheme: str, host: str) -> bool:
    """The page's Origin is this host's own origin or a trusted one."""
    if not origin:
        return False
    own = f"{'https' if scheme == 'wss' else 'http'}://{host}"
    return origin == own or origin in settings.CSRF_TRUSTED_ORIGINS


def upstream_ws_url(url: str) -> str:
    return "ws" + url.removeprefix("http") if url.startswith("http") else url


def prepare(scope: Scope) -> Handshake:
    """Check the browser's handshake and find where it goes; HandshakeRefused if not."""
    headers = _headers(scope)
    host = headers.get("host", "")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        raise HandshakeRefused(400, "bad_host", "The Host is not served here.")
    if not origin_allowed(headers.get("origin"), scope.get("scheme", "ws"), host):
        raise HandshakeRefused(403, "cross_origin", "WebSockets from other origins are refused.")
    raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    raw_query = scope.get("query_string", b"").decode("latin-1")
    try:
        upstream, url = resolve(None, raw_path.partition("?")[0], raw_query)
    except Refused as exc:
        raise HandshakeRefused(exc.status, exc.error, exc.message) from exc
    cookie = parse_cookie(headers.get("cookie", "")).get(settings.SESSION_COOKIE_NAME)
    session = django_session(cookie)
    try:
        record = record_of(session, clock.now())
        try:
            record = ensure_fresh(record)
        except ProviderUnavailable as exc:
            if record.tokens.is_expired(clock.now()):
                raise HandshakeRefused(
                    503, "provider_unavailable", "The sign-in provider is unavailable."
                ) from exc
        if not is_session_user(session, record, renew=False):
            raise SessionEnded("credentials_changed")
        token, _ = bearer_for(SimpleNamespace(token_session=record), upstream)
    except ProviderUnavailable as exc:  # a client-credentials token it could not get now
        raise HandshakeRefused(503, "provider_unavailable", "Try again in a moment.") from exc
    except NotSignedIn as exc:
        raise HandshakeRefused(401, "not_signed_in", "Sign in first.") from exc
    except SessionEnded as exc:
        raise HandshakeRefused(401, "session_expired", "The session has ended.") from exc
    sent = {"X-Request-ID": choose_request_id(headers.get("x-request-id"))}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    if "user-agent" in headers:
        sent["User-Agent"] = headers["user-agent"]
    return Handshake(upstream, upstream_ws_url(url), sent, record, token)


def _prepare_in_thread(scope: Scope) -> Handshake:
    # In a thread of the event loop's pool: its database connection is closed afterwards,
    # so the pool's threads do not each keep one open (handshakes are rare next to requests).
    try:
        return prepare(scope)
    except DatabaseError as exc:  # the store is down: try again later, never a 500
        raise HandshakeRefused(503, "store_unavailable", "Try again in a moment.") from exc
    except ProviderError as exc:  # a client-credentials token the provider refused
        raise HandshakeRefused(502, "provider_error", "The sign-in provider refused.") from exc
    finally:
        connections.close_all()


async def deny(scope: Scope, send: Send, refused: HandshakeRefused) -> None:
    """Refuse the handshake: a JSON answer with its status where the server can send one."""
    logger.info("websocket refused status=%s error=%s", refused.status, refused.error)
    if "websocket.http.response" in scope.get("extensions", {}):
        body = json.dumps({"error": refused.error, "message": refused.message}).encode()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": refused.status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


async def _close_browser(send: Send, code: int, reason: str = "") -> None:
    try:
        await send({"type": "websocket.close", "code": code, "reason": reason})
    except Exception:  # the browser is gone already
        logger.debug("browser already closed", exc_info=True)


async def _browser_to_upstream(receive: Receive, upstream: ClientConnection) -> tuple[int, str]:
    limit = bff_settings.BFF_LIVE_MAX_MESSAGE_BYTES
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            code = message.get("code", 1000)
            return (code if code in _SENDABLE or 3000 <= code < 5000 else 1000), "browser"
        data = message.get("text")
        if data is None:
            data = message.get("bytes")
        if data is None:
            continue
        if len(data) > limit:
            return MESSAGE_TOO_BIG, "message too big"
        await upstream.send(data)


async def _upstream_to_browser(upstream: ClientConnection, send: Send) -> tuple[int, str]:
    try:
        async for data in upstream:
            key = "text" if isinstance(data, str) else "bytes"
            await send({"type": "websocket.send", key: data})
    except ConnectionClosed:
        pass
    frame = upstream.protocol.close_rcvd or upstream.protocol.close_sent
    if frame is None or not (frame.code in _SENDABLE or 3000 <= frame.code < 5000):
        return BAD_GATEWAY, "upstream closed"
    return frame.code, frame.reason


async def relay(scope: Scope, receive: Receive, send: Send, handshake: Handshake) -> None:
    """Connect upstream, accept the browser with the upstream's subprotocol, relay until one
    side closes or the stream is stopped."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    try:
        stream = open_stream(
            handshake.record,
            handshake.token,
            WEBSOCKET,
            lambda reason: loop.call_soon_threadsafe(stopped.set),
        )
    except TooManyStreams as exc:
        await deny(scope, send, HandshakeRefused(429, "too_many_streams", str(exc)))
        return
    try:
        offered = [Subprotocol(p) for p in scope.get("subprotocols") or ()]
        upstream = handshake.upstream
        try:
            connection = await connect(
                handshake.url,
                subprotocols=offered or None,
                additional_headers=handshake.headers,
                max_size=bff_settings.BFF_LIVE_MAX_MESSAGE_BYTES,
                open_timeout=upstream.connect_timeout + upstream.read_timeout,
                user_agent_header=None,
                compression=None,
            )
        except InvalidStatus as exc:
            logger.warning(
                "upstream=%s websocket refused status=%s",
                upstream.name,
                exc.response.status_code,
            )
            status = 401 if exc.response.status_code == 401 else 502
            await deny(
                scope,
                send,
                HandshakeRefused(status, "upstream_refused", "The upstream API refused."),
            )
            return
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            logger.warning("upstream=%s websocket unreachable: %s", upstream.name, exc)
            await deny(
                scope,
                send,
                HandshakeRefused(502, "upstream_unreachable", "The upstream API is unreachable."),
            )
            return
        async with connection:
            await send({"type": "websocket.accept", "subprotocol": connection.subprotocol})
            await _pump(receive, send, connection, stopped, stream)
    finally:
        close_stream(stream)


async def _pump(
    receive: Receive,
    send: Send,
    connection: ClientConnection,
    stopped: asyncio.Event,
    stream: Any,
) -> None:
    inbound = asyncio.ensure_future(_browser_to_upstream(receive, connection))
    outbound = asyncio.ensure_future(_upstream_to_browser(connection, send))
    stop = asyncio.ensure_future(stopped.wait())
    done, pending = await asyncio.wait(
        {inbound, outbound, stop}, return_when=asyncio.FIRST_COMPLETED
    )
    for task in pending:
        task.cancel()
    if stop in done:
        reason = stream.stopped
        await connection.close(1001, "going away")
        await _close_browser(send, CLOSE_CODES[reason], str(reason))
    elif outbound in done:
        code, reason = outbound.result()
        await _close_browser(send, code, reason)
    else:
        code, reason = inbound.result()
        await connection.close(1001 if code == MESSAGE_TOO_BIG else code, reason)
        if code == MESSAGE_TOO_BIG:
            await _close_browser(send, MESSAGE_TOO_BIG, reason)


async def websocket_application(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    try:
        handshake = await sync_to_async(_prepare_in_thread, thread_sensitive=False)(scope)
    except HandshakeRefused as refused:
        await deny(scope, send, refused)
        return
    await relay(scope, receive, send, handshake)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            stop_all(Stop.SHUTDOWN)
            await send({"type": "lifespan.shutdown.complete"})
            return


def with_websockets(http_application: Callable[..., Awaitable[None]]) -> Any:
    """The ASGI application: WebSockets here, HTTP to `http_application` (Django's)."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await websocket_application(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)
        else:
            await http_application(scope, receive, send)

    return application
