"""The code flow's tokens: a JWT access token an API can verify, and an ID token."""

from __future__ import annotations

import jwt
import pytest
import requests

from tests.idp.flow import CLIENT_ID, EMAIL, NAME, REDIRECT_URI, Client, pkce_pair


@pytest.fixture(scope="module")
def tokens(client: Client) -> dict:
    return client.sign_in()


def test_token_response(tokens: dict) -> None:
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900
    assert set(tokens["scope"].split()) == {"openid", "profile", "email", "offline_access"}
    assert tokens["refresh_token"]
    assert tokens["id_token"]
    # The refresh token is opaque, not a second JWT.
    assert tokens["refresh_token"].count(".") == 0


def test_access_token_verifies_with_jwks_and_has_the_claims(client: Client, tokens: dict) -> None:
    claims = client.verify_access_token(tokens["access_token"])
    header = jwt.get_unverified_header(tokens["access_token"])
    jwks_kids = {key.key_id for key in client.jwks.get_signing_keys()}

    assert header["alg"] == "RS256"
    assert header["kid"] in jwks_kids
    assert header["typ"] == "at+jwt"
    assert claims["iss"] == client.issuer
    assert claims["aud"] == "demo-api"
    assert claims["exp"] - claims["iat"] == tokens["expires_in"] == 900
    assert claims["client_id"] == CLIENT_ID
    assert set(claims["scope"].split()) == {"openid", "profile", "email", "offline_access"}
    assert claims["email"] == EMAIL
    assert claims["name"] == NAME
    assert claims["jti"]


def test_id_token_names_the_same_subject(client: Client, tokens: dict) -> None:
    id_claims = client.verify_id_token(tokens["id_token"])
    access_claims = client.verify_access_token(tokens["access_token"])
    header = jwt.get_unverified_header(tokens["id_token"])

    assert header["alg"] == "RS256"
    assert header["kid"] == jwt.get_unverified_header(tokens["access_token"])["kid"]
    assert id_claims["sub"] == access_claims["sub"]
    assert id_claims["email"] == EMAIL
    assert id_claims["name"] == NAME
    assert id_claims["nonce"]


def test_claims_follow_the_granted_scopes(client: Client) -> None:
    tokens = client.sign_in(scope="openid")
    claims = client.verify_access_token(tokens["access_token"])
    assert claims["scope"] == "openid"
    assert "email" not in claims
    assert "name" not in claims


def test_each_access_token_has_its_own_jti(client: Client) -> None:
    first = client.verify_access_token(client.sign_in()["access_token"])
    second = client.verify_access_token(client.sign_in()["access_token"])
    assert first["jti"] != second["jti"]


def test_refreshed_access_token_is_a_jwt_with_the_same_claims(client: Client) -> None:
    tokens = client.sign_in()
    response = client.refresh(tokens["refresh_token"])
    assert response.status_code == 200, response.text
    refreshed = response.json()
    before = client.verify_access_token(tokens["access_token"])
    after = client.verify_access_token(refreshed["access_token"])

    assert after["sub"] == before["sub"]
    assert after["jti"] != before["jti"]
    assert after["exp"] - after["iat"] == refreshed["expires_in"] == 900
    assert (after["email"], after["name"], after["scope"]) == (
        before["email"],
        before["name"],
        before["scope"],
    )
    assert client.verify_id_token(refreshed["id_token"])["sub"] == before["sub"]


def test_authorization_response_carries_iss_and_state(client: Client) -> None:
    _verifier, challenge = pkce_pair()
    callback = client.authorize(
        code_challenge=challenge, code_challenge_method="S256", state="the-state"
    )
    assert callback["iss"] == client.issuer
    assert callback["state"] == "the-state"


def test_userinfo_accepts_the_access_token(client: Client, tokens: dict) -> None:
    response = client.userinfo(tokens["access_token"])
    assert response.status_code == 200
    info = response.json()
    assert info["email"] == EMAIL
    assert info["name"] == NAME
    assert info["sub"] == client.verify_access_token(tokens["access_token"])["sub"]


def test_code_is_single_use(client: Client) -> None:
    verifier, challenge = pkce_pair()
    callback = client.authorize(code_challenge=challenge, code_challenge_method="S256")
    exchange = {
        "grant_type": "authorization_code",
        "code": callback["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    assert client.token_request(**exchange).status_code == 200
    second = client.token_request(**exchange)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"


def test_wrong_client_secret_is_rejected(client: Client, tokens: dict) -> None:
    response = requests.post(
        client.metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(CLIENT_ID, "not-the-secret"),
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
