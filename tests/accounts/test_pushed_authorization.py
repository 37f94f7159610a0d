"""Pushed authorization requests (RFC 9126) at sign-in against a provider whose PAR endpoint
a test controls: the parameters go over the back channel with client authentication, the
browser carries only client_id and request_uri, and every failure of the push is a page."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from joserfc.jwk import ECKey
from werkzeug import Request, Response

from tests.accounts.conftest import assert_sign_in_rejected, failure_reasons
from tests.support.servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)

PAR_PATH = "/par"
REQUEST_URI = "urn:ietf:params:oauth:request_uri:bwc4JK-ESC0w8acc191e-Y1LTC2"


@pytest.fixture
def par(hostile, httpserver):
    """The hostile provider requiring PAR at `httpserver`'s /par; records what it was sent."""
    hostile.discovery_overrides.update(
        require_pushed_authorization_requests=True,
        pushed_authorization_request_endpoint=httpserver.url_for(PAR_PATH),
    )
    pushed: list[Request] = []

    def answer(status: int, body: object) -> None:
        def respond(request: Request) -> Response:
            pushed.append(request)
            text = body if isinstance(body, str) else json.dumps(body)
            return Response(text, status=status, content_type="application/json")

        httpserver.expect_request(PAR_PATH, method="POST").respond_with_handler(respond)

    answer.pushed = pushed
    return answer


def login(browser, bff) -> requests.Response:
    return browser.get(f"{bff}/auth/login?next=/items", allow_redirects=False)


def test_pushed_request_carries_the_parameters_and_the_browser_only_a_reference(
    par, hostile, bff, browser
):
    par(201, {"request_uri": REQUEST_URI, "expires_in": 60})
    started = login(browser, bff)
    assert started.status_code == 302
    location = started.headers["Location"]
    assert location.startswith(hostile.endpoint("authorize") + "?")
    assert parse_qs(urlsplit(location).query) == {
        "client_id": [hostile.client_id],
        "request_uri": [REQUEST_URI],
    }
    (request,) = par.pushed
    form = request.form.to_dict()
    assert set(form) == {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    }
    assert form["redirect_uri"] == f"{bff}/auth/callback/hostile"
    assert form["code_challenge_method"] == "S256"
    secret = f"{hostile.client_id}:{hostile.client_secret}".encode()
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(secret).decode()
    assert hostile.calls["authorize"] == 0


@pytest.mark.parametrize(
    ("status", "body", "page_status", "reason"),
    [
        (500, "oops", 503, "provider_unavailable"),
        (503, {"error": "temporarily_unavailable"}, 503, "provider_unavailable"),
        (429, {"error": "slow_down"}, 503, "provider_unavailable"),
        (400, {"error": "invalid_request", "error_description": "no"}, 502, "invalid_request"),
        (401, {"error": "invalid_client"}, 502, "invalid_client"),
        (400, {"error": "<script>alert(1)</script>"}, 502, "bad_response"),
        (201, "not json", 502, "bad_response"),
        (201, [REQUEST_URI], 502, "bad_response"),
        (201, {"expires_in": 60}, 502, "bad_response"),
        (201, {"request_uri": 5}, 502, "bad_response"),
    ],
)
def test_failing_push_shows_a_page_and_changes_nothing(
    par, hostile, bff, browser, status, body, page_status, reason
):
    par(status, body)
    page = login(browser, bff)
    expected = reason if page_status == 503 else f"pushed_authorization_request:{reason}"
    assert_sign_in_rejected(page, browser, bff, hostile, reason=None, status=page_status)
    assert failure_reasons() == [expected]
    assert "<script>alert" not in page.text
    assert "bff_signin" not in page.cookies  # no pending sign-in was stored


def test_push_that_times_out_shows_a_page(par, hostile, bff, browser, settings, httpserver):
    settings.OIDC_HTTP_TIMEOUT = (0.5, 0.5)

    def slow(request: Request) -> Response:
        time.sleep(1.5)
        return Response(json.dumps({"request_uri": REQUEST_URI}), status=201)

    httpserver.expect_request(PAR_PATH).respond_with_handler(slow)
    page = login(browser, bff)
    assert_sign_in_rejected(page, browser, bff, hostile, status=503)
    assert failure_reasons() == ["provider_unavailable"]


def test_push_endpoint_unreachable_shows_a_page(hostile, bff, browser):
    hostile.discovery_overrides.update(
        require_pushed_authorization_requests=True,
        pushed_authorization_request_endpoint=f"http://127.0.0.1:{free_port()}/par",
    )
    page = login(browser, bff)
    assert_sign_in_rejected(page, browser, bff, hostile, status=503)


def test_required_push_without_an_endpoint_shows_a_page(hostile, bff, browser):
    hostile.discovery_overrides["require_pushed_authorization_requests"] = True
    page = login(browser, bff)
    assert_sign_in_rejected(page, browser, bff, hostile, status=502)
    assert failure_reasons() == ["pushed_authorization_request:bad_metadata"]
    assert hostile.calls["authorize"] == 0


def test_configured_push_without_discovery_asking(par, hostile, bff, browser, settings):
    hostile.discovery_overrides.pop("require_pushed_authorization_requests")
    settings.OIDC_PROVIDERS = {"hostile": {**settings.OIDC_PROVIDERS["hostile"], "use_par": True}}
    par(201, {"request_uri": REQUEST_URI, "expires_in": 60})
    started = login(browser, bff)
    assert parse_qs(urlsplit(started.headers["Location"]).query)["request_uri"] == [REQUEST_URI]
    assert len(par.pushed) == 1


def test_private_key_jwt_assertion_is_short_lived_one_time_and_for_the_issuer(
    par, hostile, bff, browser, settings
):
    """The assertion authlib signs, as RFC 7523 and draft-ietf-oauth-rfc7523bis want it:
    iss = sub = client_id, aud = the issuer identifier as one string, a 60-second life,
    a new jti each time; no secret goes with it. It verifies with our published JWKS."""
    key = ECKey.generate_key("P-256", private=True)
    provider = {
        **settings.OIDC_PROVIDERS["hostile"],
        "client_secret": "",
        "client_auth_method": "private_key_jwt",
        "client_private_key": json.dumps(key.as_dict(private=True)),
        "client_key_id": "bff-2026",
    }
    settings.OIDC_PROVIDERS = {"hostile": provider}
    par(201, {"request_uri": REQUEST_URI, "expires_in": 60})
    login(browser, bff)
    browser.cookies.clear()
    login(browser, bff)
    jwks = requests.get(f"{bff}/auth/jwks.json", timeout=10).json()
    public = jwt.PyJWKSet.from_dict(jwks)["bff-2026"].key
    claims = []
    for request in par.pushed:
        form = request.form.to_dict()
        assert "Authorization" not in request.headers
        assert form["client_id"] == hostile.client_id
        assert form["client_assertion_type"] == (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        )
        assertion = form["client_assertion"]
        assert jwt.get_unverified_header(assertion)["kid"] == "bff-2026"
        claims.append(jwt.decode(assertion, public, algorithms=["ES256"], audience=hostile.issuer))
    first, second = claims
    for claim in claims:
        assert claim["iss"] == claim["sub"] == hostile.client_id
        assert claim["aud"] == hostile.issuer
        assert claim["exp"] - claim["iat"] == 60
    assert first["jti"] != second["jti"]
