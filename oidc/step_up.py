"""Whether an ID token shows the authentication a sign-in asked for (Core 3.1.2.1, 3.1.3.7):
an `acr` among the requested `acr_values`, an `auth_time` within `max_age`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Seconds of clock difference tolerated between us and the provider.
LEEWAY_SECONDS = 60


def unmet(
    claims: dict[str, Any],
    *,
    acr_values: Sequence[str] = (),
    max_age: int | None = None,
    now: float,
    leeway: float = LEEWAY_SECONDS,
) -> str | None:
    """Why the claims fall short of the request ("acr", "auth_time_missing",
    "auth_time_too_old", ...), or None when they satisfy it."""
    if acr_values:
        acr = claims.get("acr")
        if not isinstance(acr, str) or not acr:
            return "acr_missing"
        if acr not in acr_values:
            return "acr_not_requested"
    if max_age is not None:
        # Core 3.1.2.1: with max_age the ID token MUST carry auth_time.
        auth_time = claims.get("auth_time")
        if isinstance(auth_time, bool) or not isinstance(auth_time, int | float):
            return "auth_time_missing"
        if auth_time > now + leeway:
            return "auth_time_in_future"
        if now - auth_time > max_age + leeway:
            return "auth_time_too_old"
    return None
