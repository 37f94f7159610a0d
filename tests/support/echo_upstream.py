"""An upstream API that reports what reached it, for the /api gateway's tests.

A real threaded HTTP server (Werkzeug) on 127.0.0.1. Every request is recorded in `seen`
(method, raw path and query, headers, body size and sha256) and, unless a route says
otherwise, echoed back as JSON. Routes, by the last path segment:

    gzip       a gzip body (GZIP_BODY) with Content-Encoding: gzip
    cookie     a Set-Cookie next to an ordinary header
    redirect   302 to /elsewhere
    slow       answers after `slow_seconds`
    protected  401 Bearer error="invalid_token" for a revoked token (or every token when
               `refuse_every_token`), else the echo
    challenge  401 with each of `challenges` as a WWW-Authenticate header (step-up tests)
    download   ?size=N bytes of pattern_bytes(N), streamed in pieces
    upload     reads the body as it comes, answers only its size and sha256

Also `send_raw`, to send a request target byte for byte (requests and http.client would
normalise or refuse the hostile ones).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

GZIP_BODY = gzip.compress(b"compressed upstream body " * 400, mtime=0)
CHUNK = 64 * 1024
_PATTERN = bytes(range(256)) * (CHUNK // 256)


def pattern_bytes(size: int) -> Iterator[bytes]:
    """`size` deterministic bytes in pieces of at most 64 KiB."""
    while size > 0:
        piece = _PATTERN[: min(size, CHUNK)]
        size -= len(piece)
        yield piece


def pattern_sha256(size: int) -> str:
    digest = hashlib.sha256()
    for piece in pattern_bytes(size):
        digest.update(piece)
    return digest.hexdigest()


class EchoUpstream:
    """A recording echo server; `url` is its base, `seen` what reached it."""

    def __init__(self, *, slow_seconds: float = 1.5) -> None:
        self.slow_seconds = slow_seconds
        self.seen: list[dict[str, Any]] = []
        self.revoked: set[str] = set()
        self.refuse_every_token = False
        self.challenges: list[str] = []
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def port(self) -> int:
        return self._server.server_port

    def start(self) -> EchoUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.seen.clear()
            self.revoked.clear()
            self.refuse_every_token = False
            self.challenges = []

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        return Request.application(self._dispatch)(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        environ = request.environ
        record: dict[str, Any] = {
            "method": request.method,
            # What came on the request line, before any decoding.
            "path": (environ.get("RAW_URI") or environ.get("REQUEST_URI", "")).partition("?")[0],
            "query": environ.get("QUERY_STRING", ""),
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "complete": False,
        }
        with self._lock:
            self.seen.append(record)
        digest, size = hashlib.sha256(), 0
        while piece := request.stream.read(CHUNK):
            digest.update(piece)
            size += len(piece)
        record.update(body_size=size, body_sha256=digest.hexdigest(), complete=True)

        route = request.path.rsplit("/", 1)[-1]
        if route == "gzip":
            return Response(
                GZIP_BODY, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"}
            )
        if route == "cookie":
            response = _json(record)
            response.headers.add("Set-Cookie", "upstream_session=secret; Path=/; HttpOnly")
            response.headers["X-Kept"] = "yes"
            return response
        if route == "redirect":
            return Response("", status=302, headers={"Location": f"{self.url}/elsewhere"})
        if route == "slow":
            time.sleep(self.slow_seconds)
            return _json(record)
        if route == "protected":
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if self.refuse_every_token or token in self.revoked:
                return Response(
                    json.dumps({"error": "invalid_token"}),
                    status=401,
                    content_type="application/json",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            return _json(record)
        if route == "challenge":
            response = Response(
                json.dumps({"error": "upstream's own 401 body"}),
                status=401,
                content_type="application/json",
            )
            for challenge in self.challenges:
                response.headers.add("WWW-Authenticate", challenge)
            return response
        if route == "download":
            size = int(request.args.get("size", "0"))
            return Response(
                pattern_bytes(size),
                content_type="application/octet-stream",
                headers={"Content-Length": str(size)},
                direct_passthrough=True,
            )
        if route == "upload":
            return _json({"size": size, "sha256": digest.hexdigest()})
        return _json(record)


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), content_type="application/json")


def send_raw(
    base_url: str,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, dict[str, str], bytes]:
    """Send one request with `target` on the request line exactly as given (latin-1)."""
    host, port = base_url.removeprefix("http://").split(":")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        content = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, content
