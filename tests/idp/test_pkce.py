"""PKCE: S256 required; a missing challenge, `plain` and a wrong verifier are rejected."""

from __future__ import annotations

import requests

from tests.idp.flow import EMAIL, PASSWORD, REDIRECT_URI, Client, pkce_pair, query_params
from tests.support.idp import provider_sign_in


def callback_error(client: Client, **params: str) -> dict[str, str]:
    response = provider_sign_in(client.browser, client.authorize_url(**params), EMAIL, PASSWORD)
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    callback = query_params(location)
    assert "code" not in callback, callback
    return callback


def test_missing_code_challenge_is_rejected(client: Client) -> None:
    callback = callback_error(client, state="s1")
    assert callback["error"] == "invalid_request"
    assert callback["state"] == "s1"
    # RFC 9207: error responses carry `iss` as well.
    assert callback["iss"] == client.issuer


def test_plain_code_challenge_is_rejected(client: Client) -> None:
    verifier, _challenge = pkce_pair()
    callback = callback_error(
        client, code_challenge=verifier, code_challenge_method="plain", state="s2"
    )
    assert callback["error"] == "invalid_request"
    assert callback["iss"] == client.issuer


def test_challenge_without_method_counts_as_plain_and_is_rejected(client: Client) -> None:
    verifier, _challenge = pkce_pair()
    callback = callback_error(client, code_challenge=verifier)
    assert callback["error"] == "invalid_request"


def test_wrong_code_verifier_is_rejected(client: Client) -> None:
    _verifier, challenge = pkce_pair()
    callback = client.authorize(code_challenge=challenge, code_challenge_method="S256")
    response = client.token_request(
        grant_type="authorization_code",
        code=callback["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=pkce_pair()[0],
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_missing_code_verifier_is_rejected(client: Client) -> None:
    _verifier, challenge = pkce_pair()
    callback = client.authorize(code_challenge=challenge, code_challenge_method="S256")
    response = client.token_request(
        grant_type="authorization_code", code=callback["code"], redirect_uri=REDIRECT_URI
    )
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "invalid_grant")


def test_unregistered_redirect_uri_is_never_redirected_to(client: Client) -> None:
    _verifier, challenge = pkce_pair()
    url = client.authorize_url(
        redirect_uri="http://evil.example/callback",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    response = client.browser.get(url, allow_redirects=False)
    assert response.status_code == 400
    assert "evil.example" not in response.headers.get("Location", "")


def test_implicit_flow_is_not_offered(client: Client) -> None:
    _verifier, challenge = pkce_pair()
    url = client.authorize_url(
        response_type="token", code_challenge=challenge, code_challenge_method="S256"
    )
    response = requests.get(url, allow_redirects=False, cookies=client.browser.cookies, timeout=10)
    location = response.headers.get("Location", "")
    assert "access_token" not in location
    assert response.status_code in (302, 400)
