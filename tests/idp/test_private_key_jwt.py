"""private_key_jwt at the built-in provider (idp/client_assertion.py), with the BFF as its
client: the provider reads the BFF's public key from /auth/jwks.json, accepts nothing else
from that client, and refuses a replayed or misaddressed assertion."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator

import jwt
import pytest
import requests
from joserfc.jwk import ECKey

from bff.models import TokenSession
from oidc import client
from oidc.exceptions import InvalidGrant
from oidc.provider import get_provider, reset_providers
from tests.accounts.conftest import csrf_token
from tests.bff.conftest import make_due
from tests.conftest import CLIENT_ID, CLIENT_SECRET, USER_EMAIL, USER_PASSWORD, issuer_of, sign_in
from tests.support.idp import start_idp
from tests.support.servers import Server

pytestmark = pytest.mark.django_db(transaction=True)

KEY = ECKey.generate_key("P-256", private=True)
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def idp_key(live_server, tmp_path_factory) -> Iterator[Server]:
    server = start_idp(
        tmp_path_factory.mktemp("idp-key"),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[f"{live_server.url}/auth/callback/oidc"],
        post_logout_redirect_uris=[f"{live_server.url}/auth/signed-out"],
        user_email=USER_EMAIL,
        user_password=USER_PASSWORD,
        env={"IDP_CLIENT_JWKS_URIS": f"{CLIENT_ID}={live_server.url}/auth/jwks.json"},
    )
    yield server
    server.stop()


@pytest.fixture
def bff(settings, idp_key, live_server) -> Iterator[str]:
    """The BFF with the key and no secret; the method chosen from discovery."""
    private_jwk = json.dumps(KEY.as_dict(private=True, kid="bff-ec-1"))
    settings.OIDC_PROVIDERS = {
        "oidc": {
            "issuer": issuer_of(idp_key),
            "client_id": CLIENT_ID,
            "client_private_key": private_jwk,
        }
    }
    reset_providers()
    yield live_server.url
    reset_providers()


def token_endpoint(idp: Server) -> str:
    discovery = requests.get(f"{issuer_of(idp)}/.well-known/openid-configuration", timeout=10)
    assert "private_key_jwt" in discovery.json()["token_endpoint_auth_methods_supported"]
    return discovery.json()["token_endpoint"]


def assertion(idp: Server, **changes: object) -> str:
    now = int(time.time())
    claims = {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": issuer_of(idp), "iat": now}
    claims.update({"exp": now + 60, "jti": secrets.token_urlsafe(16), **changes})
    key = jwt.PyJWK(KEY.as_dict(private=True)).key
    return jwt.encode(claims, key, "ES256", headers={"kid": "bff-ec-1"})


def refresh_form(signed: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": "x", "client_id": CLIENT_ID} | {
        "client_assertion_type": JWT_BEARER,
        "client_assertion": signed,
    }


def test_sign_in_refresh_and_sign_out_with_private_key_jwt(bff, idp_key):
    with requests.Session() as browser:
        assert sign_in(browser, bff).status_code == 302
        before = TokenSession.objects.live().get()
        make_due()
        assert browser.get(f"{bff}/auth/session").status_code == 200
        after = TokenSession.objects.live().get()
        assert after.version == before.version + 1
        refresh_token = after.tokens.refresh_token
        signed_out = browser.post(
            f"{bff}/auth/logout",
            data={"csrfmiddlewaretoken": csrf_token(browser, bff)},
            allow_redirects=False,
        )
        assert signed_out.status_code == 302
    # Revoked at sign-out (with the key): the refresh token is dead.
    with pytest.raises(InvalidGrant):
        client.refresh(get_provider("oidc"), refresh_token)


def test_the_client_secret_no_longer_authenticates_that_client(bff, idp_key):
    refused = requests.post(
        token_endpoint(idp_key),
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "https://elsewhere.example"},
        {"iss": "someone-else"},
        {"exp": int(time.time()) + 3600},
    ],
)
def test_a_misaddressed_or_long_lived_assertion_is_refused(bff, idp_key, changes):
    refused = requests.post(
        token_endpoint(idp_key), data=refresh_form(assertion(idp_key, **changes)), timeout=10
    )
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


def test_a_replayed_assertion_is_refused(bff, idp_key):
    signed = assertion(idp_key)
    url = token_endpoint(idp_key)
    first = requests.post(url, data=refresh_form(signed), timeout=10)
    # Authenticated: the refresh token is what is wrong.
    assert first.status_code == 400 and first.json()["error"] == "invalid_grant"
    again = requests.post(url, data=refresh_form(signed), timeout=10)
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_client"
