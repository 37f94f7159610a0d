"""Server-sent events through /api/<upstream>/... under WSGI.

An upstream answer of type text/event-stream is relayed as it arrives (read1: whatever the
socket has, at most READ_BYTES), never buffered here (`X-Accel-Buffering: no` asks a proxy
in front not to either), with no read timeout of ours shorter than BFF_LIVE_IDLE_SECONDS of
upstream silence. It is a stream of bff.live.streams: stopped when its session ends or its
token is renewed or lost; then, at an event boundary, one last event named CLOSED_EVENT says
why (data: the Stop value) and the response ends.

An EventSource cannot send X-CSRF. See docs/gateway.md, "Live data", for why an event-stream
GET may come without it (may_skip_csrf).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from bff.conf import bff_settings
from bff.live.streams import EVENTS, Stop, Stream, TooManyStreams, close_stream, open_stream
from bff.responses import json_error
from bff.transport import UpstreamResponse

logger = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream"
# The largest piece read from the upstream at once; read1 returns what has arrived.
READ_BYTES = 16 * 1024
# The event the gateway adds when it ends a stream; its data is a Stop value.
CLOSED_EVENT = "bff-stream-closed"
_BOUNDARIES = (b"\n\n", b"\r\r", b"\r\n\r\n")


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def wants_event_stream(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return request.method == "GET" and any(
        _media_type(part) == EVENT_STREAM for part in accept.split(",")
    )


def may_skip_csrf(request: HttpRequest) -> bool:
    """A GET for an event stream, from this origin as far as the browser says so."""
    if not wants_event_stream(request):
        return False
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return False
    origin = request.headers.get("Origin")
    return origin is None or origin == f"{request.scheme}://{request.get_host()}"


def is_event_stream(upstream_response: UpstreamResponse) -> bool:
    return upstream_response.status_code == 200 and (
        _media_type(upstream_response.headers.get("Content-Type")) == EVENT_STREAM
    )


def closed_event(reason: Stop) -> bytes:
    return f"event: {CLOSED_EVENT}\ndata: {reason}\n\n".encode()


def _upstream_socket(upstream_response: UpstreamResponse) -> socket.socket | None:
    connection = getattr(upstream_response.raw, "connection", None)
    return getattr(connection, "sock", None)


def event_stream_response(
    request: HttpRequest,
    upstream_response: UpstreamResponse,
    name: str,
    headers: list[tuple[str, str]],
    request_id: str,
) -> HttpResponse:
    """The browser's response for an upstream event stream (429 past a stream limit)."""
    record = getattr(request, "token_session", None)
    sock = _upstream_socket(upstream_response)

    def stop(reason: Stop) -> None:
        # Wakes the relaying thread from its read: the read ends, the stream closes.
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    try:
        stream = open_stream(
            record, record.tokens.access_token if record is not None else None, EVENTS, stop
        )
    except TooManyStreams as exc:
        upstream_response.close()
        response = json_error(429, "too_many_streams", f"Too many open streams for this {exc.per}.")
        response["Retry-After"] = "5"
        return response
    if sock is not None:
        sock.settimeout(bff_settings.BFF_LIVE_IDLE_SECONDS)
    encoded = bool(upstream_response.headers.get("Content-Encoding"))
    response = StreamingHttpResponse(
        relay_events(upstream_response, stream, name, request_id, mark_end=not encoded)
    )
    del response["Content-Type"]
    for header, value in headers:
        response[header] = value
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def relay_events(
    upstream_response: UpstreamResponse,
    stream: Stream,
    name: str,
    request_id: str,
    *,
    mark_end: bool = True,
) -> Iterator[bytes]:
    """The upstream's events as they arrive; ends with CLOSED_EVENT when the stream was
    stopped at an event boundary."""
    raw: Any = upstream_response.raw
    tail = b"\n\n"
    try:
        while stream.stopped is None:
            try:
                chunk = raw.read1(READ_BYTES, decode_content=False)
            except Exception as exc:  # stopped (socket shut down), idle too long, or cut
                if stream.stopped is None:
                    logger.info(
                        "upstream=%s event stream ended: %s request_id=%s",
                        name,
                        type(exc).__name__,
                        request_id,
                    )
                break
            if not chunk:
                break
            tail = (tail + chunk)[-4:]
            yield chunk
    finally:
        close_stream(stream)
        upstream_response.close()
    if mark_end and stream.stopped is not None and tail.endswith(_BOUNDARIES):
        yield closed_event(stream.stopped)
