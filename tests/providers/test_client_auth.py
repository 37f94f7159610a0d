"""private_key_jwt client authentication (RFC 7523) and pushed authorization requests
(RFC 9126) against panva's oidc-provider configured to enforce them (issue 15, item 4).

`npm_strict`'s client has no secret: the provider authenticates it only by a client
assertion signed with the BFF's key, whose public half it fetches from the BFF's
/auth/jwks.json, and it refuses any authorization request that was not pushed first.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from oidc import client
from oidc.client_keys import PRIVATE_JWK_MEMBERS
from oidc.provider import get_provider
from tests.providers.conftest import Walk
from tests.providers.ops import NodeOP, discovery
from tests.providers.test_matrix import call_echo, failure_reason, sign_out, storm

pytestmark = pytest.mark.django_db(transaction=True)


def strict_settings(op: NodeOP, **overrides: Any) -> dict[str, Any]:
    """The BFF's key for `op`'s client as OIDC_CLIENT_PRIVATE_KEY would carry it (a JWK)."""
    return {"client_secret": "", "client_private_key": json.dumps(op.client_private_jwk)}


def pushed_sign_in(walk: Walk) -> dict[str, list[str]]:
    """Sign in where the authorize redirect carries only client_id and request_uri."""
    started = walk.browser.get(f"{walk.bff}/auth/login?next=/", allow_redirects=False)
    assert started.status_code == 302, failure_reason(started)
    location = started.headers["Location"]
    assert location.startswith(discovery(walk.op)["authorization_endpoint"] + "?")
    query = parse_qs(urlsplit(location).query)
    assert set(query) == {"client_id", "request_uri"}, query
    assert query["client_id"] == [walk.op.client_id]
    back = walk.op.sign_in(walk.browser, location)
    walk.callback_url = back.headers["Location"]
    done = walk.browser.get(walk.callback_url, allow_redirects=False)
    assert done.status_code == 302, f"sign-in failed: {failure_reason(done)}"
    record = walk.record
    assert record.subject == walk.op.account.sub
    return query


def test_private_key_jwt_and_par_sign_in_refresh_revoke_sign_out(walk, npm_strict):
    metadata = discovery(npm_strict)
    assert metadata["require_pushed_authorization_requests"] is True
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    # No client_auth_method configured: chosen from discovery because a key is configured.
    w = walk(npm_strict, **strict_settings(npm_strict))
    pushed_sign_in(w)
    call_echo(w)
    storm(w)
    sign_out(w)
    # Every call that authenticated the client did so with the key, and was accepted.
    (pushed,) = w.calls(route="pushed_authorization_request")
    assert pushed["status"] == 201
    grants = [(c["grant_type"], c["status"]) for c in w.calls(route="token")]
    # The last one is sign_out's check that the revoked refresh token no longer works.
    assert grants == [("authorization_code", 200), ("refresh_token", 200), ("refresh_token", 400)]
    assert [c["status"] for c in w.calls(route="revocation")] == [200]


def test_client_credentials_with_private_key_jwt(connect, npm_strict):
    connect(npm_strict, **strict_settings(npm_strict))
    calls_before = len(npm_strict.calls())
    token = client.client_credentials(get_provider("oidc"))
    assert token["access_token"]
    (call,) = [c for c in npm_strict.calls()[calls_before:] if c.get("route") == "token"]
    assert (call["grant_type"], call["status"]) == ("client_credentials", 200)


def test_served_jwks_is_the_public_key_the_provider_checks(connect, npm_strict):
    bff = connect(npm_strict, **strict_settings(npm_strict))
    response = requests.get(f"{bff}/auth/jwks.json", timeout=10)
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    private = npm_strict.client_private_jwk
    assert key == {"kty": "RSA", "n": private["n"], "e": private["e"]} | {
        "kid": "bff-client-1",
        "alg": "RS256",
        "use": "sig",
    }
    assert not PRIVATE_JWK_MEMBERS & set(key)


def test_provider_refuses_the_client_without_its_key(walk, npm_strict):
    """A secret where the provider demands private_key_jwt: the push itself is refused,
    and the person gets a page saying sign-in failed, not a 500."""
    w = walk(npm_strict, client_secret="not-the-key", client_auth_method="client_secret_basic")
    page = w.browser.get(f"{w.bff}/auth/login?next=/", allow_redirects=False)
    assert page.status_code == 502
    assert "Sign-in failed" in page.text
    assert failure_reason(page) == "pushed_authorization_request:invalid_client"
    (pushed,) = w.calls(route="pushed_authorization_request")
    assert pushed["status"] == 401


def test_provider_requiring_par_refuses_a_plain_authorization_request(walk, npm_strict):
    """Enforcement: the same parameters sent straight to the authorization endpoint."""
    w = walk(npm_strict, **strict_settings(npm_strict))
    params = {
        "response_type": "code",
        "client_id": npm_strict.client_id,
        "redirect_uri": f"{w.bff}/auth/callback/oidc",
        "scope": "openid",
        "state": "s" * 43,
        "nonce": "n" * 43,
        "code_challenge": client.s256_challenge("v" * 64),
        "code_challenge_method": "S256",
    }
    endpoint = discovery(npm_strict)["authorization_endpoint"]
    refused = w.browser.get(f"{endpoint}?{urlencode(params)}", allow_redirects=False)
    # The error goes back to the (registered) redirect URI, with no code.
    assert refused.is_redirect, refused.status_code
    location = refused.headers["Location"]
    assert location.startswith(params["redirect_uri"] + "?"), location
    answer = parse_qs(urlsplit(location).query)
    assert answer["error"] == ["invalid_request"]
    assert answer["error_description"] == ["Pushed Authorization Request must be used"]
    assert "code" not in answer


def test_configured_par_with_a_provider_that_does_not_require_it(walk, npm_rotating):
    """OIDC_USE_PAR=true: pushed with client_secret_basic; without it, a plain request."""
    assert not discovery(npm_rotating).get("require_pushed_authorization_requests")
    plain = walk(npm_rotating)
    started = plain.browser.get(f"{plain.bff}/auth/login?next=/", allow_redirects=False)
    assert "code_challenge" in parse_qs(urlsplit(started.headers["Location"]).query)
    assert plain.calls(route="pushed_authorization_request") == []
    plain.browser.cookies.clear()

    w = walk(npm_rotating, use_par=True)
    pushed_sign_in(w)
    (pushed,) = w.calls(route="pushed_authorization_request")
    assert pushed["status"] == 201
    call_echo(w)
