"""The gateway's decisions as pure functions: which raw paths are refused, where the raw
request target comes from, how the upstream URL and request are built."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from bff.proxy import (
    Refused,
    check_caller,
    forwarded_request_headers,
    raw_target,
    relayed_response_headers,
    resolve,
    unsafe_path_reason,
)
from bff.transport import framing

# Refused whatever the server: these survive the decoding that a server without a raw
# request target (Django's test server) does, so they are refused there too.
PATH_ATTACKS = [
    "/api/echo/../secret",
    "/api/echo/a/../../secret",
    "/api/echo/..;/secret",
    "/api/echo/%2e%2e/secret",
    "/api/echo/%2E%2E/secret",
    "/api/echo/.%2e/secret",
    "/api/echo/%252e%252e/secret",
    "/api/echo/./secret",
    "/api/echo/a%5cb",
    "/api/echo/a%5Cb",
    "/api/echo/a\\b",
    "/api/echo/..\\secret",
    "/api/echo//evil.example/x",
    "/api/echo/a//b",
    "/api/echo/%2f%2fevil.example",
    "/api/echo/%252f",
    "/api/echo/a@evil.example",
    "/api/echo/%40evil.example",
    "/api/echo/a%0d%0aX-Injected:%20yes",
    "/api/echo/a%0aX-Injected:%20yes",
    "/api/echo/a%00b",
    "/api/echo/a%7fb",
    "/api/echo/a\x01b",
    "/api/../admin/",
    "/api/echo/x?q=1#fragment",
]
# Refused only where the raw target is known (gunicorn): decoding makes them look harmless.
RAW_ONLY_PATH_ATTACKS = [
    "/api/echo/a%2fb",
    "/api/echo/a%2Fb",
    "/api/echo/a%2eb",
    "/%61pi/echo/x",
]


@pytest.mark.parametrize("target", PATH_ATTACKS + RAW_ONLY_PATH_ATTACKS)
def test_each_path_attack_is_refused_on_the_raw_target(target, settings):
    settings.BFF_UPSTREAMS = {"echo": "http://upstream.test/base"}
    request = RequestFactory().get("/api/echo/x", RAW_URI=target)
    with pytest.raises(Refused) as refused:
        resolve(request, *raw_target(request))
    assert refused.value.status == 400


@pytest.mark.parametrize(
    "path",
    ["", "items", "items/42", "a-b_c~d", "caf%C3%A9", "x;v=1", "a.b", "v1.2/x.json", "%41", "a+b"],
)
def test_ordinary_paths_pass(path):
    assert unsafe_path_reason(path) is None


def test_the_server_raw_target_wins_over_the_decoded_path():
    factory = RequestFactory()
    gunicorn = factory.get("/api/echo/a/b", RAW_URI="/api/echo/a%2Fb?q=%41")
    assert raw_target(gunicorn) == ("/api/echo/a%2Fb", "q=%41")
    uwsgi = factory.get("/api/echo/a/b", REQUEST_URI="/api/echo/a%2Fb")
    assert raw_target(uwsgi) == ("/api/echo/a%2Fb", "")
    absolute_form = factory.get("/api/echo/x", RAW_URI="http://bff.test/api/echo/x?y")
    assert raw_target(absolute_form) == ("/api/echo/x", "y")


def test_without_a_raw_target_the_decoded_path_is_encoded_again():
    request = RequestFactory().get("/api/echo/caf%C3%A9/100%25/%41?q=%41")
    assert raw_target(request) == ("/api/echo/caf%C3%A9/100%25/A", "q=%41")


def test_upstream_url_is_its_base_plus_the_path(settings):
    settings.BFF_UPSTREAMS = {
        "graphql": "http://graphql.test/graphql",
        "echo": "http://upstream.test/base/",
    }
    factory = RequestFactory()
    upstream, url = resolve(factory.get("/"), "/api/echo/a/b;c", "x=1&y")
    assert (upstream.name, url) == ("echo", "http://upstream.test/base/a/b;c?x=1&y")
    assert resolve(factory.get("/"), "/api/echo/", "")[1] == "http://upstream.test/base/"
    assert resolve(factory.get("/"), "/api/graphql", "")[1] == "http://graphql.test/graphql"
    for path in ("/api/graphql/x", "/api/echo", "/api/other/x", "/api/", "/api/%65cho/x"):
        with pytest.raises(Refused) as refused:
            resolve(factory.get("/"), path, "")
        assert refused.value.status == 404


def test_framing_keeps_the_target_and_frames_the_body():
    url = "http://upstream.test/base/%7E/%41?a=%41&b=~"
    target, headers = framing("GET", url, {"Accept": "*/*"}, None, 0)
    assert target == "/base/%7E/%41?a=%41&b=~"
    assert "Content-Length" not in headers
    assert framing("POST", url, {}, None, 0)[1]["Content-Length"] == "0"
    assert framing("POST", url, {}, b"abc", 3)[1]["Content-Length"] == "3"
    # A chunked body (length unknown) carries no Content-Length; urllib3 frames it.
    assert "Content-Length" not in framing("POST", url, {}, iter([b"abc"]), None)[1]
    assert framing("GET", "http://upstream.test", {}, None, 0)[0] == "/"


def test_response_headers_lose_hop_by_hop_connection_named_and_cookies():
    relayed = relayed_response_headers(
        {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Connection": "keep-alive, X-Upstream-Hop",
            "X-Upstream-Hop": "1",
            "Keep-Alive": "timeout=5",
            "Transfer-Encoding": "chunked",
            "Set-Cookie": "a=b",
            "ETag": '"v1"',
        }
    )
    assert relayed == [
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
        ("ETag", '"v1"'),
    ]


@pytest.mark.parametrize(
    ("remote", "forwarded_for", "client"),
    [
        # Not a trusted proxy: what it says about anyone else is ignored.
        ("198.51.100.4", None, "198.51.100.4"),
        ("198.51.100.4", "203.0.113.7", "198.51.100.4"),
        ("198.51.100.4", "10.0.0.9", "198.51.100.4"),
        # A trusted proxy names the client; the client's own claim (192.0.2.1) stays ignored.
        ("10.0.0.2", "203.0.113.7", "203.0.113.7"),
        ("10.0.0.2", "192.0.2.1, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        ("10.0.0.2", "203.0.113.7:4711", "203.0.113.7"),
        ("10.0.0.2", "[2001:db8::1]:4711", "2001:db8::1"),
        ("::ffff:10.0.0.2", "203.0.113.7", "203.0.113.7"),
        # Nothing beyond the proxy that can be believed: the nearest address that can.
        ("10.0.0.2", None, "10.0.0.2"),
        ("10.0.0.2", "10.0.0.9, 10.0.0.8", "10.0.0.9"),
        ("10.0.0.2", "203.0.113.7, not-an-address", "10.0.0.2"),
    ],
)
def test_upstream_hears_only_the_client_address_as_the_trusted_proxies_give_it(
    settings, remote, forwarded_for, client
):
    settings.BFF_TRUSTED_PROXIES = ["10.0.0.0/8"]
    meta = {"REMOTE_ADDR": remote}
    if forwarded_for is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded_for
    request = RequestFactory().get("/api/echo/x", **meta)
    assert forwarded_request_headers(request, has_body=False)["X-Forwarded-For"] == client


def test_a_bad_trusted_proxy_setting_names_the_setting(settings):
    settings.BFF_TRUSTED_PROXIES = ["10.0.0.300"]
    request = RequestFactory().get("/api/echo/x", REMOTE_ADDR="10.0.0.2")
    with pytest.raises(ImproperlyConfigured, match="BFF_TRUSTED_PROXIES"):
        forwarded_request_headers(request, has_body=False)


@pytest.mark.parametrize(
    ("method", "headers", "allowed"),
    [
        ("GET", {}, False),
        ("GET", {"HTTP_X_CSRF": "true"}, False),
        ("GET", {"HTTP_X_CSRF": "1"}, True),
        ("POST", {"HTTP_X_CSRF": "1"}, False),
        ("POST", {"HTTP_X_CSRF": "1", "HTTP_ORIGIN": "http://testserver"}, True),
        ("POST", {"HTTP_X_CSRF": "1", "HTTP_ORIGIN": "http://evil.test"}, False),
        ("POST", {"HTTP_X_CSRF": "1", "HTTP_ORIGIN": "null"}, False),
        ("DELETE", {"HTTP_X_CSRF": "1", "HTTP_SEC_FETCH_SITE": "same-origin"}, True),
        ("DELETE", {"HTTP_X_CSRF": "1", "HTTP_SEC_FETCH_SITE": "same-site"}, False),
        (
            "PUT",
            {
                "HTTP_X_CSRF": "1",
                "HTTP_ORIGIN": "http://evil.test",
                "HTTP_SEC_FETCH_SITE": "same-origin",
            },
            False,
        ),
    ],
)
def test_caller_rule(method, headers, allowed):
    request = RequestFactory().generic(method, "/api/echo/x", **headers)
    if allowed:
        check_caller(request)
    else:
        with pytest.raises(Refused) as refused:
            check_caller(request)
        assert refused.value.status == 403
