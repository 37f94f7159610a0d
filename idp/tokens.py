"""Access tokens as RS256 JWTs (RFC 9068), so APIs can verify them against the JWKS alone."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from django.conf import settings
from oauthlib.common import Request

from idp.keys import signing_key


def access_token_claims(request: Request, now: int | None = None) -> dict[str, Any]:
    """The claims of an access token for the grant oauthlib is processing."""
    issued_at = int(time.time()) if now is None else now
    # oauthlib sets expires_in on the request right before calling the generator, and puts
    # the same value in the response: `exp` and `expires_in` cannot disagree.
    lifetime = int(request.expires_in)
    scopes = list(request.scopes or [])
    user = request.user
    claims: dict[str, Any] = {
        "iss": settings.IDP_ISSUER,
        # The ID token's `sub` is str(user.pk) (DOT); the access token must name the same person.
        "sub": str(user.pk) if user is not None else request.client.client_id,
        # A refresh grant with a resource indicator (RFC 8707) gets a token for it alone.
        "aud": getattr(request, "audience_resource", None) or settings.IDP_ACCESS_TOKEN_AUDIENCE,
        "iat": issued_at,
        "exp": issued_at + lifetime,
        "jti": uuid.uuid4().hex,
        "scope": " ".join(scopes),
        "client_id": request.client.client_id,
    }
    if getattr(request, "idp_acr", None):
        # How the person authenticated, for APIs that demand more (RFC 9470).
        claims["acr"] = request.idp_acr
        claims["auth_time"] = request.idp_auth_time
    if user is not None and "email" in scopes:
        claims["email"] = user.email
    if user is not None and "profile" in scopes:
        claims["name"] = user.name
    return claims


def generate_access_token(request: Request) -> str:
    """DOT's ACCESS_TOKEN_GENERATOR: used for the code grant and the refresh grant alike."""
    key = signing_key()
    return jwt.encode(
        access_token_claims(request),
        key.private_key,
        algorithm="RS256",
        # typ at+jwt (RFC 9068) keeps an access token from passing as an ID token and back.
        headers={"kid": key.kid, "typ": "at+jwt"},
    )
