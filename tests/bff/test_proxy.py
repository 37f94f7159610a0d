"""The /api gateway over real HTTP: the live BFF, the real provider, an echo upstream."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import requests

from bff.client import upstream
from bff.models import TokenSession
from oidc.provider import reset_providers
from tests.bff.test_proxy_paths import PATH_ATTACKS
from tests.conftest import CLIENT_ID, CLIENT_SECRET
from tests.support.echo_upstream import (
    GZIP_BODY,
    EchoUpstream,
    pattern_bytes,
    pattern_sha256,
    send_raw,
)
from tests.support.servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)

MB = 1024 * 1024


@pytest.fixture
def echo(echo_server, wired, settings) -> EchoUpstream:
    """The echo upstream under several names, each configured to show one rule."""
    base = f"{echo_server.url}/base"
    settings.BFF_UPSTREAMS = {
        "graphql": f"{wired.demo.url}/graphql",
        "echo": {"url": base, "max_body_bytes": 16 * MB},
        "small": {"url": base, "max_body_bytes": 1024},
        "slow": {"url": base, "read_timeout": 0.3},
        "readonly": {"url": base, "methods": ["GET"]},
        "down": f"http://127.0.0.1:{free_port()}",
    }
    echo_server.reset()
    return echo_server


def access_token() -> str:
    return TokenSession.objects.live().get().tokens.access_token


def assert_json_error(response: requests.Response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == error
    assert body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


# --- Header hygiene ----------------------------------------------------------------------------


def test_upstream_receives_the_bearer_and_none_of_the_browsers_credentials(echo, user, wired):
    response = user.get(
        f"{wired.bff}/api/echo/things?b=2&a=%2F+x&c",
        headers={
            "Accept": "application/json",
            "Accept-Language": "fr",
            "If-None-Match": '"v1"',
            "Cache-Control": "no-cache",
            "If-Match": '"named-in-connection"',
            "Connection": "keep-alive, X-Hop-Secret, If-Match",
            "X-Hop-Secret": "hop",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Trailer": "X-Checksum",
            "Upgrade": "h2c",
            "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
            "Authorization": "Bearer browser-supplied",
            "X-Forwarded-For": "203.0.113.7",
            "Forwarded": "for=203.0.113.7",
            "X-Original-URL": "/admin",
            "X-Request-ID": "req-0001-from-browser",
        },
    )
    assert response.status_code == 200, response.text
    [seen] = echo.seen
    assert seen["method"] == "GET"
    assert seen["path"] == "/base/things"
    assert seen["query"] == "b=2&a=%2F+x&c"
    headers = seen["headers"]
    # Exactly these arrived: content negotiation and caching, the bearer, the X-Forwarded-*
    # trio and the request id; the upstream's own Host and the client library's framing.
    assert set(headers) == {
        "host",
        "user-agent",
        "accept",
        "accept-encoding",
        "accept-language",
        "if-none-match",
        "cache-control",
        "authorization",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-request-id",
    }
    assert headers["authorization"] == f"Bearer {access_token()}"
    assert headers["host"] == f"127.0.0.1:{echo.port}"
    assert headers["accept-language"] == "fr"
    assert headers["if-none-match"] == '"v1"'
    # Only the address the BFF saw: what the browser claims is not passed on.
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == wired.bff.removeprefix("http://")
    assert headers["x-request-id"] == "req-0001-from-browser"
    assert response.headers["X-Request-ID"] == "req-0001-from-browser"


def test_a_malformed_request_id_is_replaced_by_a_generated_one(echo, user, wired):
    response = user.get(f"{wired.bff}/api/echo/x", headers={"X-Request-ID": "bad id; drop"})
    assert response.status_code == 200
    generated = echo.seen[0]["headers"]["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert response.headers["X-Request-ID"] == generated


def test_body_and_its_content_headers_are_forwarded(echo, user, wired):
    payload = json.dumps({"name": "thing"}).encode()
    response = user.post(
        f"{wired.bff}/api/echo/things",
        data=payload,
        headers={"Content-Type": "application/json", "Content-Language": "en"},
    )
    assert response.status_code == 200
    seen = echo.seen[0]
    assert seen["method"] == "POST"
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["headers"]["content-language"] == "en"
    assert seen["headers"]["content-length"] == str(len(payload))
    assert seen["body_sha256"] == hashlib.sha256(payload).hexdigest()


def test_upstream_set_cookie_is_dropped_and_other_headers_kept(echo, user, wired):
    response = user.get(f"{wired.bff}/api/echo/cookie")
    assert response.status_code == 200
    assert response.headers["X-Kept"] == "yes"
    assert "upstream_session" not in response.headers.get("Set-Cookie", "")
    assert "upstream_session" not in {cookie.name for cookie in user.cookies}
    # Nor does the shared upstream session keep it for the next caller.
    user.get(f"{wired.bff}/api/echo/again")
    assert "cookie" not in echo.seen[1]["headers"]


def test_upstream_redirect_is_passed_back_not_followed(echo, user, wired, settings):
    # The echo redirects to /elsewhere: inside an upstream based at its root, it is passed
    # back as the same place under /api/.
    settings.BFF_UPSTREAMS = {**settings.BFF_UPSTREAMS, "root": echo.url}
    response = user.get(f"{wired.bff}/api/root/redirect", allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"] == "/api/root/elsewhere"
    assert [seen["path"] for seen in echo.seen] == ["/redirect"]


def test_upstream_redirect_out_of_its_base_is_502(echo, user, wired):
    response = user.get(f"{wired.bff}/api/echo/redirect", allow_redirects=False)
    assert_json_error(response, 502, "upstream_redirect_refused")
    assert "Location" not in response.headers
    assert [seen["path"] for seen in echo.seen] == ["/base/redirect"]


def test_gzip_body_passes_through_byte_for_byte(echo, user, wired):
    response = user.get(
        f"{wired.bff}/api/echo/gzip", headers={"Accept-Encoding": "gzip"}, stream=True
    )
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.raw.read(decode_content=False) == GZIP_BODY
    assert echo.seen[0]["headers"]["accept-encoding"] == "gzip"


# --- Big bodies, both ways ---------------------------------------------------------------------


def test_multi_megabyte_download_streams_through(echo, user, wired):
    size = 12 * MB
    response = user.get(f"{wired.bff}/api/echo/download?size={size}", stream=True)
    assert response.status_code == 200
    digest, received = hashlib.sha256(), 0
    for piece in response.iter_content(256 * 1024):
        digest.update(piece)
        received += len(piece)
    assert received == size
    assert digest.hexdigest() == pattern_sha256(size)


def test_multi_megabyte_upload_streams_through(echo, user, wired):
    size = 12 * MB
    body = b"".join(pattern_bytes(size))
    response = user.put(
        f"{wired.bff}/api/echo/upload",
        data=body,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"size": size, "sha256": pattern_sha256(size)}
    assert echo.seen[0]["headers"]["content-length"] == str(size)


def test_body_over_the_limit_is_refused_before_the_upstream(echo, user, wired):
    response = user.post(f"{wired.bff}/api/small/upload", data=b"x" * 1025)
    assert_json_error(response, 413, "body_too_large")
    assert echo.seen == []


# --- Who may call ------------------------------------------------------------------------------


def test_missing_csrf_header_is_refused(echo, user, wired):
    del user.headers["X-CSRF"]
    assert_json_error(user.get(f"{wired.bff}/api/echo/x"), 403, "csrf_required")
    assert echo.seen == []


def test_unsafe_method_from_a_foreign_origin_is_refused(echo, user, wired):
    response = user.post(
        f"{wired.bff}/api/echo/x", json={}, headers={"Origin": "http://evil.example"}
    )
    assert_json_error(response, 403, "cross_origin")
    assert echo.seen == []


def test_unsafe_method_without_origin_needs_same_origin_fetch_metadata(echo, user, wired):
    del user.headers["Origin"]
    assert_json_error(user.post(f"{wired.bff}/api/echo/x", json={}), 403, "cross_origin")
    response = user.post(
        f"{wired.bff}/api/echo/x", json={}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert response.status_code == 200
    assert len(echo.seen) == 1


def test_anonymous_call_gets_401_not_signed_in_json_not_a_redirect(echo, browser, wired):
    response = browser.get(
        f"{wired.bff}/api/echo/x", headers={"X-CSRF": "1"}, allow_redirects=False
    )
    body = assert_json_error(response, 401, "not_signed_in")
    assert body["login_url"].startswith("/auth/login")
    assert echo.seen == []


def test_unknown_upstream_is_404_json(echo, user, wired):
    assert_json_error(user.get(f"{wired.bff}/api/nowhere/x"), 404, "unknown_upstream")
    assert_json_error(user.get(f"{wired.bff}/api/echo"), 404, "unknown_upstream")
    assert_json_error(user.get(f"{wired.bff}/api/graphql/x"), 404, "unknown_upstream")


def test_method_not_allowed_for_the_upstream_is_405_json(echo, user, wired):
    response = user.delete(f"{wired.bff}/api/readonly/x")
    assert_json_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "GET"
    assert echo.seen == []


# --- The path attack list ----------------------------------------------------------------------


def test_path_attacks_are_refused_without_an_upstream_request(echo, user, wired):
    cookie = f"bff_session={user.cookies['bff_session']}"
    for target in PATH_ATTACKS:
        status, headers, content = send_raw(
            wired.bff, "GET", target, {"X-CSRF": "1", "Cookie": cookie}
        )
        assert status == 400, (target, status, content[:300])
        assert headers["content-type"] == "application/json", target
        assert json.loads(content)["error"] in ("unsafe_path", "unsafe_query"), target
    assert echo.seen == []


def test_a_clean_raw_path_goes_through(echo, user, wired):
    cookie = f"bff_session={user.cookies['bff_session']}"
    target = "/api/echo/caf%C3%A9/a-b_c~d;v=1?x=%2F&y=%41"
    status, _, content = send_raw(wired.bff, "GET", target, {"X-CSRF": "1", "Cookie": cookie})
    assert status == 200, content
    assert echo.seen[0]["path"] == "/base/caf%C3%A9/a-b_c~d;v=1"
    assert echo.seen[0]["query"] == "x=%2F&y=%41"


# --- Upstream failures -------------------------------------------------------------------------


def test_upstream_down_is_502_json(echo, user, wired):
    assert_json_error(user.get(f"{wired.bff}/api/down/x"), 502, "upstream_unreachable")


def test_upstream_slow_is_504_json(echo, user, wired):
    assert_json_error(user.get(f"{wired.bff}/api/slow/slow"), 504, "upstream_timeout")


def test_upstream_401_refreshes_once_and_retries(echo, user, wired):
    first_token = access_token()
    echo.revoked.add(first_token)
    response = user.post(f"{wired.bff}/api/echo/protected", json={"name": "retried"})
    assert response.status_code == 200, response.text
    refused, retried = echo.seen
    assert refused["headers"]["authorization"] == f"Bearer {first_token}"
    assert retried["headers"]["authorization"] == f"Bearer {access_token()}"
    assert access_token() != first_token
    # The buffered body went again, unchanged.
    assert retried["body_sha256"] == refused["body_sha256"]
    assert retried["body_size"] == len(json.dumps({"name": "retried"}))


def test_a_second_401_passes_through_after_one_refresh(echo, user, wired):
    first_token = access_token()
    echo.refuse_every_token = True
    response = user.get(f"{wired.bff}/api/echo/protected")
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token"}
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert len(echo.seen) == 2
    assert access_token() != first_token


def test_a_streamed_body_is_not_retried(echo, user, wired):
    echo.revoked.add(access_token())
    response = user.put(f"{wired.bff}/api/echo/protected", data=b"x" * (64 * 1024 + 1))
    assert response.status_code == 401
    assert len(echo.seen) == 1


def test_provider_down_during_the_forced_refresh_is_503_with_retry_after(
    echo, user, wired, settings
):
    echo.revoked.add(access_token())
    settings.OIDC_PROVIDERS = {
        "oidc": {
            "issuer": f"http://127.0.0.1:{free_port()}/o",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
    }
    reset_providers()
    response = user.get(f"{wired.bff}/api/echo/protected")
    assert_json_error(response, 503, "provider_unavailable")
    assert int(response.headers["Retry-After"]) >= 1
    assert len(echo.seen) == 1


def test_server_side_client_never_carries_an_upstream_cookie_to_the_next_call(
    echo_server, settings, rf
):
    """The pooled session is shared by every user: a cookie one got must not go to another."""
    settings.BFF_UPSTREAMS = {"public": {"url": f"{echo_server.url}/base", "token": "none"}}
    echo_server.reset()
    request = rf.get("/")
    assert upstream(request, "public").get("cookie").status_code == 200
    assert upstream(request, "public").get("again").status_code == 200
    assert "cookie" not in echo_server.seen[1]["headers"]
