"""How the person authenticated at this provider (`acr`, `auth_time`), and what a client's
authorization request asks for (`acr_values`, `max_age`; OpenID Connect Core 3.1.2.1).

Two levels: a password sign-in gives PASSWORD; confirming the password again on the step-up
page (a second step, as a one-time code would be) gives SECOND_STEP. Both are kept in the
provider's session with the time they happened; a new password sign-in starts over at
PASSWORD. A grant carries the level and time the session had when it was made
(idp.models.GrantAuthentication), and its tokens keep them through refreshes.
"""

from __future__ import annotations

import re
import time
from typing import Any

from django.http import HttpRequest

PASSWORD = "urn:bff:demo:pwd"
SECOND_STEP = "urn:bff:demo:mfa"
# Weakest first; discovery's acr_values_supported.
LEVELS = (PASSWORD, SECOND_STEP)

SESSION_ACR = "idp_acr"
SESSION_AUTH_TIME = "idp_auth_time"
_MAX_AGE = re.compile(r"[0-9]{1,9}")


def mark_authenticated(request: HttpRequest, acr: str) -> None:
    """The person just authenticated at `acr` (after login(), or on the step-up page)."""
    request.session[SESSION_ACR] = acr
    request.session[SESSION_AUTH_TIME] = int(time.time())


def password_sign_in(sender: type, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """Receiver of user_logged_in: a password sign-in starts the session at PASSWORD."""
    if request is not None and hasattr(request, "session"):
        mark_authenticated(request, PASSWORD)


def session_authentication(request: HttpRequest) -> tuple[str, int]:
    """(acr, auth_time) of the signed-in person's session."""
    acr = request.session.get(SESSION_ACR)
    auth_time = request.session.get(SESSION_AUTH_TIME)
    if acr not in LEVELS:
        acr = PASSWORD
    if not isinstance(auth_time, int):
        last_login = getattr(request.user, "last_login", None)
        auth_time = int(last_login.timestamp()) if last_login else int(time.time())
    return acr, auth_time


def requested_levels(acr_values: Any) -> list[str]:
    """The levels of `acr_values` this provider knows, in the client's order (others are
    voluntary requests it cannot meet, and are ignored as Core 3.1.2.1 allows)."""
    if not isinstance(acr_values, str):
        return []
    return [value for value in acr_values.split() if value in LEVELS]


def satisfied_acr(session_acr: str, acr_values: Any) -> str | None:
    """The `acr` to claim: the first requested level the session reaches (a stronger one
    reaches a weaker), the session's own when none is asked; None when it reaches none."""
    requested = requested_levels(acr_values)
    if not requested:
        return session_acr
    rank = LEVELS.index(session_acr)
    reached = [value for value in requested if LEVELS.index(value) <= rank]
    return reached[0] if reached else None


def max_age_of(value: Any) -> int | None:
    """`max_age` as seconds, or None when absent or not a non-negative integer."""
    if isinstance(value, str) and _MAX_AGE.fullmatch(value):
        return int(value)
    return None


def too_old(auth_time: int, max_age: int | None, now: float | None = None) -> bool:
    """Authentication older than `max_age` seconds: the person must sign in again."""
    if max_age is None:
        return False
    return (time.time() if now is None else now) - auth_time > max_age
