"""Outcomes of the token lifecycle that views and middleware turn into responses."""

from __future__ import annotations


class SessionEnded(Exception):
    """The server-side session is over (ended, expired, or refresh rejected)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LockTimeout(Exception):
    """The refresh lock could not be taken in time (or its backend is unreachable)."""
