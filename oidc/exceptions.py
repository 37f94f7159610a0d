"""Errors of talking to an OpenID Provider and of validating what it sends."""

from __future__ import annotations


class ProviderUnavailable(Exception):
    """The provider could not be reached or failed transiently (timeout, 5xx, 429)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderError(Exception):
    """The provider answered with an OAuth error or an unusable response.

    `step` names the endpoint that failed (discovery, jwks, token_endpoint, userinfo, ...);
    `reason` is what logs and error pages show: "userinfo:401", "token_endpoint:bad_response".
    """

    def __init__(self, error: str, description: str = "", *, step: str = "") -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.step = step

    @property
    def reason(self) -> str:
        return f"{self.step}:{self.error}" if self.step else self.error


class InvalidGrant(ProviderError):
    """The grant (code or refresh token) is invalid, expired or revoked."""


class ProviderMisconfigured(ProviderError):
    """The provider's metadata does not match our configuration (e.g. issuer)."""


class TokenValidationError(Exception):
    """A JWT from the provider (ID token, logout token) failed validation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
