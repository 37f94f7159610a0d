"""Back-channel logout: validate the provider's logout token, end the matching sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts.models import SeenLogoutToken
from bff import sessions
from oidc import clock
from oidc.exceptions import TokenValidationError
from oidc.provider import Provider
from oidc.validation import validate_logout_token

# How long a jti is remembered when the token has no exp.
JTI_MEMORY = timedelta(days=1)


def remember_jti(issuer: str, jti: str, exp: float | None) -> None:
    """Record the jti once; a second sight is a replay (on any host sharing the database)."""
    now = clock.now_datetime()
    expires = datetime.fromtimestamp(exp, tz=UTC) if exp else now + JTI_MEMORY
    SeenLogoutToken.objects.filter(expires_at__lt=now - JTI_MEMORY).delete()
    try:
        with transaction.atomic():
            SeenLogoutToken.objects.create(issuer=issuer, jti=jti[:255], expires_at=expires)
    except IntegrityError as exc:
        raise TokenValidationError("jti replayed") from exc


def end_sessions_for_logout_token(provider: Provider, raw: str, request: HttpRequest) -> int:
    """Validate `raw` and end every live session matching (iss, sid) or (iss, sub)."""
    now = clock.now()
    claims = validate_logout_token(raw, provider, now=now)
    exp = claims.get("exp")
    if not isinstance(exp, int | float) and claims["iat"] < now - JTI_MEMORY.total_seconds():
        # Its jti may already be forgotten: accepting it could accept a replay.
        raise TokenValidationError("too old")
    remember_jti(provider.issuer, claims["jti"], exp if isinstance(exp, int | float) else None)
    return sessions.end_matching(
        provider.issuer, sid=claims.get("sid"), subject=claims.get("sub"), request=request
    )
