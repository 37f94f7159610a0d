"""Reading claims: the values a claim holds, and the claims a token we hold carries."""

from __future__ import annotations

from typing import Any

import jwt


def claim_values(claims: dict[str, Any], claim: str) -> frozenset[str]:
    """The claim's values as strings: a string is one value, a list its items.

    A name is looked up whole first (Auth0's "https://example.com/roles"), then as a dotted
    path into nested objects (Keycloak's "realm_access.roles")."""
    value = claims.get(claim)
    if value is None and "." in claim:
        value = claims
        for part in claim.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list | tuple):
        return frozenset(
            str(item)
            for item in value
            if isinstance(item, str | int) and not isinstance(item, bool)
        )
    return frozenset()


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT this server received from the provider's token endpoint itself
    (already validated there, or meant for an API that validates it); {} when the token is
    not a JWT (an opaque access token). Never use it on a token a client sent."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def token_scopes(claims: dict[str, Any]) -> frozenset[str]:
    """An access token's scopes: `scope` (RFC 9068, space-separated) or `scp` (a list, as
    Okta and Entra ID write it, or a space-separated string)."""
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            return frozenset(value.split())
        if isinstance(value, list):
            return frozenset(item for item in value if isinstance(item, str))
    return frozenset()
