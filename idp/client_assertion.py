"""private_key_jwt client authentication (RFC 7523, OpenID Connect Core 9), which
django-oauth-toolkit does not offer: a client registered in IDP_CLIENT_JWKS_URIS proves
itself with a JWT signed by its key, whose public half the provider reads from that URL.

Such a client can authenticate in no other way. The assertion must name the client as `iss`
and `sub`, this provider's issuer (or token endpoint) as `aud`, expire within
IDP_CLIENT_ASSERTION_MAX_SECONDS, and carry a `jti` never seen before (kept in the cache
until the assertion expires).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import jwt
from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from oauthlib.common import Request

logger = logging.getLogger(__name__)

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
LEEWAY_SECONDS = 30

_clients: dict[str, jwt.PyJWKClient] = {}
_clients_lock = threading.Lock()


def registered_jwks_uri(client_id: str | None) -> str | None:
    return settings.IDP_CLIENT_JWKS_URIS.get(client_id or "")


def _jwks_client(uri: str) -> jwt.PyJWKClient:
    with _clients_lock:
        if uri not in _clients:
            _clients[uri] = jwt.PyJWKClient(uri, lifespan=300, timeout=5)
        return _clients[uri]


def _audiences() -> list[str]:
    token_endpoint = settings.IDP_ISSUER_ORIGIN + reverse("oauth2_provider:token")
    return [settings.IDP_ISSUER, token_endpoint]


def assertion_of(request: Request) -> str | None:
    form = dict(request.decoded_body or [])
    if form.get("client_assertion_type") != JWT_BEARER:
        return None
    assertion = form.get("client_assertion")
    return assertion if isinstance(assertion, str) and assertion else None


def verified_client_id(assertion: str) -> str | None:
    """The client the assertion authenticates, or None (the reason is logged)."""
    try:
        client_id = jwt.decode(assertion, options={"verify_signature": False}).get("sub")
        uri = registered_jwks_uri(client_id if isinstance(client_id, str) else None)
        if uri is None:
            logger.info("client assertion for a client without a registered JWKS")
            return None
        key = _jwks_client(uri).get_signing_key_from_jwt(assertion).key
        claims: dict[str, Any] = jwt.decode(
            assertion,
            key,
            algorithms=ALGORITHMS,
            audience=_audiences(),
            issuer=client_id,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "sub", "aud", "exp", "jti"]},
        )
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        logger.info("client assertion refused: %s", type(exc).__name__)
        return None
    lifetime = claims["exp"] - time.time()
    if lifetime > settings.IDP_CLIENT_ASSERTION_MAX_SECONDS:
        logger.info("client assertion refused: it lives too long")
        return None
    if not cache.add(f"idp-jti:{client_id}:{claims['jti']}", 1, int(lifetime) + LEEWAY_SECONDS):
        logger.info("client assertion refused: jti replayed")
        return None
    return client_id
