"""Bearer JWT verification: the demo API trusts a request only through its access token."""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from demo.jwks import ALLOWED_ALGORITHMS, KeyStore, ProviderUnavailable, UnknownKey

logger = logging.getLogger(__name__)

REALM = "demo-api"


class InvalidToken(Exception):
    """The request carries no acceptable bearer token; the message is safe to show."""


@dataclass(frozen=True)
class Caller:
    """Who a verified token speaks for."""

    issuer: str
    subject: str
    claims: dict[str, Any]


_store: KeyStore | None = None
_store_lock = threading.Lock()


def key_store() -> KeyStore:
    """The process-wide key cache, built from settings on first use."""
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                _store = KeyStore(
                    settings.DEMO_ISSUER,
                    refetch_interval=settings.DEMO_JWKS_REFETCH_INTERVAL,
                    max_age=settings.DEMO_JWKS_MAX_AGE_SECONDS,
                    timeout=settings.DEMO_PROVIDER_TIMEOUT_SECONDS,
                )
    return _store


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header value."""
    if not authorization:
        raise InvalidToken("missing bearer token")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        raise InvalidToken("authorization scheme must be Bearer")
    if not token or " " in token:
        raise InvalidToken("malformed bearer token")
    return token


def verify_token(token: str, audience: str | None = None) -> Caller:
    """Check signature, algorithm, issuer, audience (DEMO_AUDIENCE unless given) and
    lifetime; return the caller."""
    try:
        # The header is read only to pick a key; jku, jwk, x5u and x5c are ignored on purpose,
        # since a token must never choose the key that verifies it.
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken("malformed token") from exc
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise InvalidToken("token algorithm not allowed")
    try:
        signing_key = key_store().key_for(header.get("kid"), alg)
    except UnknownKey as exc:
        raise InvalidToken("token signed with an unknown key") from exc
    try:
        claims = jwt.decode(
            token,
            key=signing_key.key,
            # The one algorithm both allowed and matching the key, never the header's free choice.
            algorithms=[alg],
            issuer=settings.DEMO_ISSUER,
            audience=audience or settings.DEMO_AUDIENCE,
            leeway=settings.DEMO_JWT_LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"], "verify_sub": True},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise InvalidToken("token not yet valid") from exc
    except jwt.InvalidAudienceError as exc:
        raise InvalidToken("token audience not accepted") from exc
    except jwt.InvalidIssuerError as exc:
        raise InvalidToken("token issuer not accepted") from exc
    except jwt.InvalidSignatureError as exc:
        raise InvalidToken("token signature invalid") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"token has no {exc.claim} claim") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken("token invalid") from exc
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("token subject invalid")
    return Caller(issuer=claims["iss"], subject=subject, claims=claims)


def billing_bearer_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """bearer_required for the billing API: tokens minted for DEMO_BILLING_AUDIENCE only."""
    return bearer_required(view, "DEMO_BILLING_AUDIENCE")


def unauthorized(description: str) -> JsonResponse:
    """401 with the RFC 6750 challenge; the description is one of our fixed messages."""
    response = JsonResponse(
        {"error": "invalid_token", "error_description": description}, status=401
    )
    response["WWW-Authenticate"] = (
        f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'
    )
    return response


def provider_unavailable() -> JsonResponse:
    """503: keys are needed but the issuer cannot be reached; retry later."""
    response = JsonResponse(
        {
            "error": "temporarily_unavailable",
            "error_description": "the identity provider's signing keys are unavailable",
        },
        status=503,
    )
    # Retrying sooner than the next allowed key fetch could only fail again.
    response["Retry-After"] = str(max(1, math.ceil(settings.DEMO_JWKS_REFETCH_INTERVAL)))
    return response


def bearer_required(
    view: Callable[..., HttpResponse], audience_setting: str = "DEMO_AUDIENCE"
) -> Callable[..., HttpResponse]:
    """Run `view` with `request.caller` set, or answer 401 / 503 without running it. The
    token must be for the audience named by the setting `audience_setting`."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            token = bearer_token(request.headers.get("Authorization"))
            request.caller = verify_token(token, getattr(settings, audience_setting))
        except InvalidToken as exc:
            logger.info("rejected bearer token: %s", exc)
            return unauthorized(str(exc))
        except ProviderUnavailable:
            return provider_unavailable()
        return view(request, *args, **kwargs)

    return wrapper


def insufficient_authentication(acr_values: str) -> JsonResponse:
    """401 asking for a stronger sign-in (RFC 9470): the token is fine, its `acr` is not."""
    description = "a stronger authentication is required"
    response = JsonResponse(
        {"error": "insufficient_user_authentication", "error_description": description},
        status=401,
    )
    response["WWW-Authenticate"] = (
        f'Bearer realm="{REALM}", error="insufficient_user_authentication", '
        f'error_description="{description}", acr_values="{acr_values}"'
    )
    return response


def acr_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Run `view` only for a token whose `acr` is one of DEMO_STEP_UP_ACR_VALUES; inside
    bearer_required (request.caller is set)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        accepted = settings.DEMO_STEP_UP_ACR_VALUES
        if request.caller.claims.get("acr") not in accepted:
            return insufficient_authentication(" ".join(accepted))
        return view(request, *args, **kwargs)

    return wrapper
