"""A minimal OAuth client for the provider's tests: the code flow with PKCE, with requests."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import requests

from tests.support.idp import find_form, provider_sign_in
from tests.support.servers import Server

CLIENT_ID = "bff-test"
CLIENT_SECRET = "bff-test-secret"
REDIRECT_URI = "http://127.0.0.1:9/auth/callback/oidc"
POST_LOGOUT_REDIRECT_URI = "http://127.0.0.1:9/signed-out"
EMAIL = "alice@example.com"
PASSWORD = "correct horse battery staple"
NAME = "Alice Example"
SCOPE = "openid profile email offline_access"


def pkce_pair() -> tuple[str, str]:
    """A random code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_params(url: str) -> dict[str, str]:
    """The query parameters of a URL, one value each."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def unique_email() -> str:
    """An address no account has yet."""
    return f"user-{secrets.token_hex(4)}@example.com"


def password_sign_in(
    browser: requests.Session, idp: Server, email: str, password: str
) -> requests.Response:
    """Submit the provider's sign-in form; return the POST's response, not followed."""
    page = browser.get(f"{idp.url}/accounts/login/", timeout=10)
    action, fields = find_form(page, "password")
    fields.update({"email": email, "password": password})
    return browser.post(action, data=fields, allow_redirects=False, timeout=30)


def signed_in_as(browser: requests.Session, idp: Server) -> str | None:
    """The name the provider's home page shows for this browser, None when signed out."""
    page = browser.get(f"{idp.url}/", timeout=10).text
    match = re.search(r"signed in as <strong>(.*?)</strong>", page)
    return match.group(1) if match else None


@dataclass
class Client:
    """The test client registered by start_idp, talking to one provider."""

    idp: Server
    browser: requests.Session = field(default_factory=requests.Session)

    @property
    def issuer(self) -> str:
        return f"{self.idp.url}/o"

    @functools.cached_property
    def metadata(self) -> dict[str, Any]:
        response = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10)
        response.raise_for_status()
        return response.json()

    @functools.cached_property
    def jwks(self) -> jwt.PyJWKClient:
        return jwt.PyJWKClient(self.metadata["jwks_uri"])

    def authorize_url(self, **params: str) -> str:
        """The authorization URL with defaults for every parameter; None drops one."""
        query = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": SCOPE,
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
            **params,
        }
        query = {key: value for key, value in query.items() if value is not None}
        return f"{self.metadata['authorization_endpoint']}?{urlencode(query)}"

    def authorize(self, browser: requests.Session | None = None, **params: str) -> dict[str, str]:
        """Sign in (if needed) and return the parameters of the redirect to the client."""
        response = provider_sign_in(
            browser or self.browser, self.authorize_url(**params), EMAIL, PASSWORD
        )
        location = response.headers["Location"]
        assert location.startswith(REDIRECT_URI + "?"), location
        return query_params(location)

    def token_request(self, **data: str) -> requests.Response:
        return requests.post(
            self.metadata["token_endpoint"],
            data=data,
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=10,
        )

    def sign_in(self, browser: requests.Session | None = None, **params: str) -> dict[str, Any]:
        """The whole code flow with PKCE S256: the token response, checked for 200."""
        verifier, challenge = pkce_pair()
        callback = self.authorize(
            browser, code_challenge=challenge, code_challenge_method="S256", **params
        )
        assert "code" in callback, callback
        response = self.token_request(
            grant_type="authorization_code",
            code=callback["code"],
            redirect_uri=REDIRECT_URI,
            code_verifier=verifier,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def refresh(self, refresh_token: str) -> requests.Response:
        return self.token_request(grant_type="refresh_token", refresh_token=refresh_token)

    def revoke(self, token: str, hint: str) -> requests.Response:
        return requests.post(
            self.metadata["revocation_endpoint"],
            data={"token": token, "token_type_hint": hint},
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=10,
        )

    def userinfo(self, access_token: str) -> requests.Response:
        return requests.get(
            self.metadata["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=10,
        )

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """Claims of an access token, after checking it against the JWKS like an API would."""
        key = self.jwks.get_signing_key_from_jwt(token)
        return jwt.decode(
            token, key.key, algorithms=["RS256"], audience="demo-api", issuer=self.issuer
        )

    def verify_id_token(self, token: str) -> dict[str, Any]:
        """Claims of an ID token, checked against the JWKS with this client as audience."""
        key = self.jwks.get_signing_key_from_jwt(token)
        return jwt.decode(
            token, key.key, algorithms=["RS256"], audience=CLIENT_ID, issuer=self.issuer
        )
