"""Discovery, JWKS and the small pages of the provider."""

from __future__ import annotations

import requests

from tests.idp.flow import Client
from tests.support.servers import Server


def test_discovery_document(client: Client) -> None:
    issuer = client.issuer
    metadata = client.metadata

    assert metadata["issuer"] == issuer
    assert metadata["authorization_endpoint"] == f"{issuer}/authorize/"
    assert metadata["token_endpoint"] == f"{issuer}/token/"
    assert metadata["userinfo_endpoint"] == f"{issuer}/userinfo/"
    assert metadata["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert metadata["revocation_endpoint"] == f"{issuer}/revoke_token/"
    assert metadata["end_session_endpoint"] == f"{issuer}/logout/"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == ["code"]
    assert set(metadata["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    }
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert {"openid", "profile", "email", "offline_access"} <= set(metadata["scopes_supported"])
    assert {"sub", "name", "email"} <= set(metadata["claims_supported"])


def test_oauth_server_metadata_agrees(client: Client) -> None:
    response = requests.get(f"{client.issuer}/.well-known/oauth-authorization-server", timeout=10)
    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == client.issuer
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["revocation_endpoint"] == client.metadata["revocation_endpoint"]


def test_jwks_publishes_one_rsa_signing_key(client: Client) -> None:
    keys = requests.get(client.metadata["jwks_uri"], timeout=10).json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA"
    assert keys[0]["alg"] == "RS256"
    assert keys[0]["use"] == "sig"
    assert keys[0]["kid"]
    assert "d" not in keys[0]  # public part only


def test_healthz_and_home(idp: Server) -> None:
    health = requests.get(f"{idp.url}/healthz", timeout=10)
    assert (health.status_code, health.text) == (200, "ok")
    home = requests.get(f"{idp.url}/", timeout=10)
    assert home.status_code == 200
    assert "Development OpenID Provider" in home.text


def test_cookie_names_are_the_providers_own(idp: Server) -> None:
    browser = requests.Session()
    browser.get(f"{idp.url}/accounts/login/", timeout=10)
    assert "idp_csrftoken" in browser.cookies
    assert "csrftoken" not in browser.cookies
    assert "sessionid" not in browser.cookies


def test_signing_key_file_is_private(idp: Server) -> None:
    key_file = idp.workdir / "idp-signing-key.pem"
    assert key_file.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert key_file.stat().st_mode & 0o777 == 0o600
