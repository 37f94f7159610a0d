"""What the /api gateway lets through, both ways, against an upstream that answers whatever a
test scripts: its CORS and Clear-Site-Data headers, its redirects, the browser's own
X-Forwarded-For and a token in the query (issue 10, item 6).

The BFF is pytest-django's live server; the upstreams need no token, so calls are anonymous.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.django_db(transaction=True)


class ScriptedUpstream:
    """A real HTTP server on 127.0.0.1 that answers every request with `answer` (status,
    headers written byte for byte, body) and records what reached it in `seen`."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.answer: tuple[int, list[tuple[str, str]], bytes] = (200, [], b"{}")
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                upstream.seen.append(
                    {"method": self.command, "target": self.path, "headers": dict(self.headers)}
                )
                status, headers, body = upstream.answer
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> ScriptedUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        self.seen.clear()
        self.answer = (200, [], b"{}")


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedUpstream]:
    server = ScriptedUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def upstream(scripted, settings, live_server) -> ScriptedUpstream:
    """The scripted server as three upstreams: under /base, at its root, and as GraphQL."""
    settings.BFF_UPSTREAMS = {
        "up": {"url": f"{scripted.origin}/base", "token": "none"},
        "root": {"url": scripted.origin, "token": "none"},
        "graphql": {"url": f"{scripted.origin}/graphql", "token": "none"},
    }
    scripted.reset()
    return scripted


def call(live_server, path: str, **headers: str) -> requests.Response:
    return requests.get(
        f"{live_server.url}{path}",
        headers={"X-CSRF": "1", **headers},
        allow_redirects=False,
        timeout=10,
    )


def assert_json_error(response: requests.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == error


# --- Response headers that would widen what the browser allows ----------------------------------


def test_upstream_cors_and_clear_site_data_headers_never_reach_the_browser(upstream, live_server):
    upstream.answer = (
        200,
        [
            ("Access-Control-Allow-Origin", "https://evil.example"),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Methods", "GET, POST, DELETE"),
            ("Access-Control-Allow-Headers", "X-CSRF"),
            ("Access-Control-Expose-Headers", "X-Request-ID"),
            ("Access-Control-Max-Age", "86400"),
            ("Clear-Site-Data", '"cookies", "storage"'),
            ("X-Kept", "yes"),
        ],
        b"{}",
    )
    response = call(live_server, "/api/up/things")
    assert response.status_code == 200, response.text
    assert response.headers["X-Kept"] == "yes"
    leaked = [name for name in response.headers if name.lower().startswith("access-control-")]
    assert leaked == []
    assert "Clear-Site-Data" not in response.headers


# --- Redirects -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "location", "rewritten"),
    [
        ("/api/up/dir/go?q=1", "{origin}/base/next?x=1#part", "/api/up/next?x=1#part"),
        ("/api/up/dir/go", "HTTP://127.0.0.1:{port}/base/x", "/api/up/x"),
        ("/api/up/dir/go", "/base/abs/path", "/api/up/abs/path"),
        ("/api/up/dir/go", "sibling", "/api/up/dir/sibling"),
        ("/api/up/dir/go", "../top", "/api/up/top"),
        ("/api/up/dir/go", "?page=2", "/api/up/dir/go?page=2"),
        ("/api/root/go", "/elsewhere", "/api/root/elsewhere"),
        ("/api/root/go", "{origin}/a/b", "/api/root/a/b"),
        ("/api/graphql", "/graphql", "/api/graphql"),
    ],
)
def test_upstream_redirect_within_its_base_is_rewritten_under_api(
    upstream, live_server, path, location, rewritten
):
    port = upstream.origin.rsplit(":", 1)[1]
    upstream.answer = (302, [("Location", location.format(origin=upstream.origin, port=port))], b"")
    response = call(live_server, path)
    assert response.status_code == 302, response.text
    assert response.headers["Location"] == rewritten
    assert len(upstream.seen) == 1  # passed back, not followed


@pytest.mark.parametrize(
    "location",
    [
        "https://evil.example/x",
        "//evil.example/x",
        "/\\evil.example/x",
        "\\\\evil.example/x",
        "https:evil.example",
        "javascript:alert(1)",
        "data:text/html,hi",
        "{origin}/elsewhere",
        "/elsewhere",
        "../../elsewhere",
        "/basement/x",
        "https://127.0.0.1:{port}/base/x",
        "http://127.0.0.1:1/base/x",
        "http://localhost:{port}/base/x",
        "http://evil.example@127.0.0.1:{port}/base/x",
        "/base/%2e%2e/%2e%2e/x",
        "/base/a//evil.example",
        "/base/x?access_token=secret",
        "/base/x y",
        "/base/caf\xe9",
    ],
)
def test_upstream_redirect_anywhere_else_is_refused_with_502(upstream, live_server, location):
    port = upstream.origin.rsplit(":", 1)[1]
    upstream.answer = (302, [("Location", location.format(origin=upstream.origin, port=port))], b"")
    response = call(live_server, "/api/up/dir/go")
    assert_json_error(response, 502, "upstream_redirect_refused")
    assert "Location" not in response.headers
    assert len(upstream.seen) == 1


@pytest.mark.parametrize("status", [300, 301, 303, 307, 308])
def test_every_redirect_status_is_checked(upstream, live_server, status):
    upstream.answer = (status, [("Location", "https://evil.example/")], b"")
    assert_json_error(call(live_server, "/api/up/go"), 502, "upstream_redirect_refused")


def test_a_location_on_a_non_redirect_is_rewritten_or_dropped(upstream, live_server):
    upstream.answer = (201, [("Location", f"{upstream.origin}/base/things/42")], b"{}")
    created = call(live_server, "/api/up/things")
    assert created.status_code == 201
    assert created.headers["Location"] == "/api/up/things/42"

    upstream.answer = (201, [("Location", "https://evil.example/things/42")], b"{}")
    elsewhere = call(live_server, "/api/up/things")
    assert elsewhere.status_code == 201
    assert "Location" not in elsewhere.headers


def test_two_location_headers_are_refused(upstream, live_server):
    upstream.answer = (302, [("Location", "/base/a"), ("Location", "https://evil.example/")], b"")
    assert_json_error(call(live_server, "/api/up/go"), 502, "upstream_redirect_refused")


# --- What the browser says about itself ---------------------------------------------------------


def test_the_browsers_x_forwarded_for_is_replaced_by_its_address(upstream, live_server):
    response = call(
        live_server,
        "/api/up/x",
        **{"X-Forwarded-For": "203.0.113.7, 10.0.0.1", "Forwarded": "for=203.0.113.7"},
    )
    assert response.status_code == 200, response.text
    headers = {name.lower(): value for name, value in upstream.seen[0]["headers"].items()}
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert "forwarded" not in headers


@pytest.mark.parametrize(
    "query",
    [
        "access_token=secret",
        "a=1&access_token=secret",
        "access_token",
        "access%5Ftoken=secret",
        "access%5ftoken=secret",
        "%61ccess_token=secret",
        "access%255Ftoken=secret",
        "ACCESS_TOKEN=secret",
        "a=1;access_token=secret",
        "access.token=secret",
        "access+token=secret",
        "access_token[]=secret",
    ],
)
def test_an_access_token_in_the_query_is_refused(upstream, live_server, query):
    assert_json_error(call(live_server, f"/api/up/x?{query}"), 400, "token_in_query")
    assert_json_error(call(live_server, f"/api/graphql?{query}"), 400, "token_in_query")
    assert upstream.seen == []


@pytest.mark.parametrize(
    "query", ["access=1&token=2", "my_access_token=1", "access_tokens=1", "q=access_token"]
)
def test_other_query_parameters_about_tokens_pass(upstream, live_server, query):
    response = call(live_server, f"/api/up/x?{query}")
    assert response.status_code == 200, response.text
    assert upstream.seen[0]["target"] == f"/base/x?{query}"
