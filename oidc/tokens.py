"""Token-endpoint responses parsed into the TokenSet a session holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt


@dataclass(frozen=True)
class TokenSet:
    """Access, refresh and ID tokens with the access token's issue and expiry times."""

    access_token: str
    refresh_token: str
    id_token: str
    issued_at: float
    expires_at: float
    refresh_expires_at: float | None = None

    @property
    def lifetime(self) -> float:
        return max(self.expires_at - self.issued_at, 0.0)

    def remaining(self, now: float) -> float:
        return self.expires_at - now

    def is_expired(self, now: float) -> bool:
        return self.remaining(now) <= 0

    def __repr__(self) -> str:  # never print a token
        return f"TokenSet(issued_at={self.issued_at}, expires_at={self.expires_at})"


def access_token_expiry(response: dict[str, Any], received_at: float) -> float:
    """Expiry from `expires_in` counted from receipt; the JWT `exp` as fallback; else 1 h."""
    expires_in = response.get("expires_in")
    try:
        if expires_in is not None:
            return received_at + max(float(expires_in), 0.0)
    except (TypeError, ValueError):
        pass
    try:
        exp = jwt.decode(response["access_token"], options={"verify_signature": False}).get("exp")
        if isinstance(exp, int | float):
            return float(exp)
    except (jwt.PyJWTError, KeyError):
        pass
    return received_at + 3600.0


def refresh_token_expiry(response: dict[str, Any], received_at: float) -> float | None:
    """`refresh_expires_in` (Keycloak) or `refresh_token_expires_in` (Entra, others)."""
    for key in ("refresh_expires_in", "refresh_token_expires_in"):
        value = response.get(key)
        if isinstance(value, int | float) and value > 0:
            return received_at + float(value)
    return None


def token_set_from_response(
    response: dict[str, Any], received_at: float, previous: TokenSet | None = None
) -> TokenSet:
    """Build the new TokenSet; keep the previous refresh / ID token when none is returned."""
    return TokenSet(
        access_token=response["access_token"],
        refresh_token=response.get("refresh_token") or (previous.refresh_token if previous else ""),
        id_token=response.get("id_token") or (previous.id_token if previous else ""),
        issued_at=received_at,
        expires_at=access_token_expiry(response, received_at),
        refresh_expires_at=refresh_token_expiry(response, received_at)
        or (
            previous.refresh_expires_at if previous and not response.get("refresh_token") else None
        ),
    )
