"""A reverse proxy in front of a real provider that counts refresh grants and injects faults.

Start it first, start the provider with IDP_ISSUER pointing at the proxy (so discovery sends
every client through it), then set `target`. Modes apply to refresh grants only:
"ok", "error" (HTTP 500), "down" (connection closed without a reply), and
"slow" (wait `delay` seconds, then forward: the provider does the work late).
"""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.support.servers import free_port

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


class ProviderProxy:
    def __init__(self) -> None:
        self.port = free_port()
        self.target: str | None = None
        self.mode = "ok"
        self.delay = 0.0
        self.refresh_grants = 0  # refresh grants forwarded to the provider
        self.refresh_attempts = 0  # refresh grants received, forwarded or not
        self.refresh_tokens_seen: list[str] = []
        self.exchanges = 0  # token-exchange grants (RFC 8693) forwarded to the provider
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.mode, self.delay = "ok", 0.0
            self.refresh_grants = self.refresh_attempts = 0
            self.refresh_tokens_seen = []
            self.exchanges = 0

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._forward(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                form = parse_qs(body.decode("latin-1"))
                if form.get("grant_type") == [TOKEN_EXCHANGE]:
                    with proxy._lock:
                        proxy.exchanges += 1
                if form.get("grant_type") == ["refresh_token"]:
                    with proxy._lock:
                        proxy.refresh_attempts += 1
                        proxy.refresh_tokens_seen += form.get("refresh_token", [])
                        mode, delay = proxy.mode, proxy.delay
                    if mode == "error":
                        return self._reply(500, b'{"error": "server_error"}')
                    if mode == "down":
                        self.close_connection = True
                        self.connection.close()
                        return None
                    if mode == "slow":
                        time.sleep(delay)
                    with proxy._lock:
                        proxy.refresh_grants += 1
                return self._forward(body)

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _forward(self, body: bytes) -> None:
                target = urlsplit(proxy.target or "")
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    upstream = conn.getresponse()
                    data = upstream.read()
                except OSError:
                    return self._reply(502, b'{"error": "proxy"}')
                finally:
                    conn.close()
                try:
                    self.send_response(upstream.status)
                    for key, value in upstream.getheaders():
                        if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout): the provider did the work anyway

        return Handler
