"""Validation of the JWTs a provider sends: ID tokens (OIDC Core 3.1.3.7) and logout tokens
(Back-Channel Logout 1.0, 2.6). Pure rules over claims, plus one signature check."""

from __future__ import annotations

import math
from typing import Any

import jwt

from oidc.conf import oidc_settings
from oidc.exceptions import TokenValidationError
from oidc.provider import Provider

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def _unverified_iat(raw: str) -> float | None:
    try:
        iat = jwt.decode(raw, options={"verify_signature": False}).get("iat")
    except (jwt.PyJWTError, AttributeError):
        return None
    if isinstance(iat, bool) or not isinstance(iat, int | float) or not math.isfinite(iat):
        return None
    return float(iat)


def verify_signature(
    raw: str, provider: Provider, metadata_field: str, *, budget: str, from_provider: bool
) -> dict[str, Any]:
    """Check the JWS signature with an allowlisted algorithm and the provider's JWKS.

    `from_provider`: the token came straight from the provider's token endpoint, so its
    `iat` may open a JWKS re-fetch for a rotated key (see Provider.signing_key).
    """
    if not isinstance(raw, str) or raw.count(".") != 2:
        raise TokenValidationError("not a signed JWT")
    try:
        header = jwt.get_unverified_header(raw)
    except jwt.PyJWTError as exc:
        raise TokenValidationError("malformed JWT header") from exc
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in provider.signing_algorithms(metadata_field):
        raise TokenValidationError(f"algorithm {alg!r} not allowed")
    if "crit" in header:
        raise TokenValidationError("unsupported critical header")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise TokenValidationError("malformed kid")
    # `jku`, `jwk` and `x5u` are ignored: keys come only from the provider's jwks_uri.
    issued_at = _unverified_iat(raw) if from_provider else None
    key = provider.signing_key(kid, alg, budget=budget, issued_at=issued_at)
    try:
        claims = jwt.decode(
            raw,
            key=key,
            algorithms=[alg],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except jwt.InvalidSignatureError as exc:
        raise TokenValidationError("bad signature") from exc
    except jwt.PyJWTError as exc:
        raise TokenValidationError("undecodable JWT") from exc
    if not isinstance(claims, dict):
        raise TokenValidationError("claims are not an object")
    return claims


def _number(claims: dict[str, Any], name: str) -> float:
    """A numeric date claim: a finite number (JSON allows neither NaN nor Infinity)."""
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TokenValidationError(f"{name} missing or not a number")
    return float(value)


def check_issuer_and_audience(claims: dict[str, Any], provider: Provider) -> None:
    if claims.get("iss") != provider.issuer:
        raise TokenValidationError("wrong issuer")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise TokenValidationError("aud missing or malformed")
    client_id = provider.config.client_id
    if client_id not in audiences:
        raise TokenValidationError("wrong audience")
    trusted = {client_id, *provider.config.trusted_audiences}
    if any(a not in trusted for a in audiences):
        raise TokenValidationError("untrusted additional audience")
    azp = claims.get("azp")
    if len(audiences) > 1 and azp is None:
        raise TokenValidationError("azp required with several audiences")
    if azp is not None and azp != client_id:
        raise TokenValidationError("wrong azp")


def check_times(claims: dict[str, Any], now: float, *, require_exp: bool = True) -> None:
    leeway = min(oidc_settings.OIDC_LEEWAY_SECONDS, 60)
    iat = _number(claims, "iat")
    if iat > now + leeway:
        raise TokenValidationError("issued in the future")
    if require_exp or "exp" in claims:
        if _number(claims, "exp") <= now - leeway:
            raise TokenValidationError("expired")
    if "nbf" in claims and _number(claims, "nbf") > now + leeway:
        raise TokenValidationError("not yet valid")


def _subject(claims: dict[str, Any]) -> str | None:
    sub = claims.get("sub")
    if sub is None:
        return None
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise TokenValidationError("sub malformed")
    return sub


def validate_id_token(
    raw: str,
    provider: Provider,
    *,
    now: float,
    nonce: str | None,
    expected_subject: str | None = None,
) -> dict[str, Any]:
    """Return the ID token's claims, or raise TokenValidationError naming the broken rule.

    `nonce` is required on sign-in; on refresh (None) a present nonce is not checked
    (Core 12.2). `expected_subject` pins `sub` on refresh.
    """
    claims = verify_signature(
        raw,
        provider,
        "id_token_signing_alg_values_supported",
        budget="id_token",
        from_provider=True,
    )
    check_issuer_and_audience(claims, provider)
    check_times(claims, now)
    if _subject(claims) is None:
        raise TokenValidationError("sub missing")
    if nonce is not None and claims.get("nonce") != nonce:
        raise TokenValidationError("wrong nonce")
    if expected_subject is not None and claims["sub"] != expected_subject:
        raise TokenValidationError("sub changed")
    return claims


def validate_logout_token(raw: str, provider: Provider, *, now: float) -> dict[str, Any]:
    """Return a logout token's claims (Back-Channel Logout 1.0, 2.6) or raise."""
    try:
        typ = jwt.get_unverified_header(raw).get("typ") if isinstance(raw, str) else None
    except jwt.PyJWTError as exc:
        raise TokenValidationError("malformed JWT header") from exc
    # 2.4 recommends typ logout+jwt; tokens without it are allowed, other types are not.
    if typ is not None and (
        not isinstance(typ, str)
        or typ.lower() not in ("logout+jwt", "application/logout+jwt", "jwt")
    ):
        raise TokenValidationError("wrong token type")
    # Posted by anyone: its kids spend a budget of their own and never bypass the limit.
    claims = verify_signature(
        raw,
        provider,
        "id_token_signing_alg_values_supported",
        budget="logout_token",
        from_provider=False,
    )
    check_issuer_and_audience(claims, provider)
    check_times(claims, now, require_exp=False)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise TokenValidationError("jti missing")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise TokenValidationError("backchannel logout event missing")
    if "nonce" in claims:
        raise TokenValidationError("nonce not allowed in a logout token")
    sid = claims.get("sid")
    if sid is not None and (not isinstance(sid, str) or not sid):
        raise TokenValidationError("sid malformed")
    if _subject(claims) is None and sid is None:
        raise TokenValidationError("sid or sub required")
    return claims
