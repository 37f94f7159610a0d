"""Back-channel logout: validate the provider's logout token, end the matching sessions."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts.models import SeenLogoutToken
from bff import sessions
from oidc import clock
from oidc.exceptions import TokenValidationError
from oidc.provider import Provider
from oidc.validation import validate_logout_token

# How long a jti is remembered, counted from the token's iat; older tokens are refused, so
# a replay is either refused as too old or found here.
JTI_MEMORY = timedelta(days=1)


def remember_jti(issuer: str, jti: str, issued_at: float) -> None:
    """Record the jti once; a second sight is a replay (on any host sharing the database).

    The jti is stored as a digest: any length fits, and two long jtis sharing a prefix
    stay two.
    """
    now = clock.now_datetime()
    digest = hashlib.sha256(jti.encode("utf-8", "surrogatepass")).hexdigest()
    SeenLogoutToken.objects.filter(expires_at__lt=now).delete()
    try:
        with transaction.atomic():
            SeenLogoutToken.objects.create(
                issuer=issuer,
                jti=digest,
                expires_at=datetime.fromtimestamp(issued_at, tz=UTC) + JTI_MEMORY,
            )
    except IntegrityError as exc:
        raise TokenValidationError("jti replayed") from exc


def end_sessions_for_logout_token(provider: Provider, raw: str, request: HttpRequest) -> int:
    """Validate `raw` and end every live session matching (iss, sid) or (iss, sub)."""
    now = clock.now()
    claims = validate_logout_token(raw, provider, now=now)
    if claims["iat"] < now - JTI_MEMORY.total_seconds():
        # Its jti may already be forgotten: accepting it could accept a replay.
        raise TokenValidationError("too old")
    # One transaction: when the end cannot reach every host (StoreUnavailable), the jti is
    # not remembered either, so the provider's retry is taken.
    with transaction.atomic():
        remember_jti(provider.issuer, claims["jti"], claims["iat"])
        return sessions.end_matching(
            provider.issuer, sid=claims.get("sid"), subject=claims.get("sub"), request=request
        )
