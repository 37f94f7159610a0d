"""Outcomes of the token lifecycle that views and middleware turn into responses."""

from __future__ import annotations


class SessionEnded(Exception):
    """The server-side session is over (ended, expired, or refresh rejected)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokensUnreadable(SessionEnded):
    """The stored tokens cannot be decrypted with any configured key (a key was dropped)."""

    def __init__(self) -> None:
        super().__init__("tokens_unreadable")


class IdentityMismatch(Exception):
    """A sign-in meant to strengthen a session names another person or provider."""


class LockTimeout(Exception):
    """The refresh lock could not be taken in time (or its backend is unreachable)."""


class NotSignedIn(Exception):
    """The upstream needs the user's token and the request has no session."""


class UpstreamError(Exception):
    """An upstream call failed; `status` is what the BFF answers (502, 504, ...)."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


class StoreUnavailable(Exception):
    """A store (the database, the shared cache) could not do what a decision needs."""
