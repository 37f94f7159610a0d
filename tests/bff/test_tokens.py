"""The pure decisions about a token set."""

from __future__ import annotations

import jwt
import pytest

from bff.refresh import needs_refresh
from oidc.tokens import TokenSet, access_token_expiry, token_set_from_response


def tokens(lifetime: float, remaining: float, now: float = 10_000.0) -> TokenSet:
    expires = now + remaining
    return TokenSet("a", "r", "i", issued_at=expires - lifetime, expires_at=expires)


@pytest.mark.parametrize(
    ("lifetime", "remaining", "buffer", "due"),
    [
        (900, 600, 300, False),  # plenty left
        (900, 301, 300, False),
        (900, 299, 300, True),  # inside the buffer
        (300, 200, 300, False),  # Keycloak's 5-minute tokens: half-life rule, not every request
        (300, 149, 300, True),
        (60, 31, 300, False),
        (60, 29, 300, True),
        (900, -1, 300, True),  # expired
        (3600, 299, 300, True),
    ],
)
def test_needs_refresh_uses_min_of_buffer_and_half_life(lifetime, remaining, buffer, due):
    assert needs_refresh(tokens(lifetime, remaining), 10_000.0, buffer) is due


def test_expiry_counts_expires_in_from_receipt():
    assert access_token_expiry({"access_token": "x", "expires_in": 300}, 1000.0) == 1300.0


def test_expiry_falls_back_to_jwt_exp_then_one_hour():
    token = jwt.encode({"exp": 5000}, "k" * 32, algorithm="HS256")
    assert access_token_expiry({"access_token": token}, 1000.0) == 5000.0
    assert access_token_expiry({"access_token": "opaque"}, 1000.0) == 4600.0


def test_refresh_keeps_previous_refresh_and_id_token_when_not_rotated():
    previous = TokenSet("a1", "r1", "i1", issued_at=0, expires_at=300)
    fresh = token_set_from_response({"access_token": "a2", "expires_in": 300}, 1000.0, previous)
    assert (fresh.access_token, fresh.refresh_token, fresh.id_token) == ("a2", "r1", "i1")
    rotated = token_set_from_response(
        {"access_token": "a3", "refresh_token": "r3", "expires_in": 300}, 1000.0, previous
    )
    assert rotated.refresh_token == "r3"


def test_token_set_repr_hides_tokens():
    assert "secret" not in repr(TokenSet("secret", "secret", "secret", 0, 1))
