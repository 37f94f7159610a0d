"""The OpenID Connect authentication backend: a provider's callback becomes a user.

    user = authenticate(request, provider=provider)     # on /auth/callback/<provider>

It checks the callback against the sign-in this browser started (state, `iss`), exchanges
the code (PKCE), validates the ID token, reads UserInfo, and finds or creates the user by
(issuer, sub). Django's user_login_failed fires on failure, user_logged_in on login(), as
for any backend. The tokens travel on the returned user as `user.oidc_sign_in`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.backends import BaseBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts import login_state
from accounts.identities import lacks_profile, user_for_identity
from accounts.models import User
from accounts.roles import apply_claim_rights
from oidc import client, clock, step_up
from oidc.exceptions import ProviderError, ProviderUnavailable, TokenValidationError
from oidc.provider import Provider
from oidc.tokens import TokenSet, token_set_from_response
from oidc.validation import validate_id_token

logger = logging.getLogger(__name__)

# RFC 6749 4.1.2.1: an error code is printable ASCII but double quote and backslash; the rest
# (a newline that would forge a log line, for one) is dropped before it is logged.
_NOT_AN_ERROR_CODE_CHAR = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")

UNAVAILABLE = "The sign-in provider is unavailable. Try again in a moment."
UNKNOWN_STATE = "unknown_state"
NOT_STEPPED_UP = (
    "The sign-in did not reach the required level of authentication, so nothing changed. "
    "Go back to try again, or ask for help if your account cannot use the stronger sign-in."
)


@dataclass(frozen=True)
class SignIn:
    """What a successful callback yields besides the user."""

    provider: Provider
    claims: dict[str, Any]
    tokens: TokenSet
    next: str
    # The sign-in was a step-up (it asked for acr_values and/or max_age, and got them).
    steps_up: bool = False


class SignInFailed(PermissionDenied):
    """Sign-in failed at a named step; the view shows `message` with `status`."""

    def __init__(
        self,
        reason: str,
        *,
        status: int = 400,
        message: str = "We could not sign you in.",
        next_path: str = "/",
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.message = message
        self.next_path = next_path


class OIDCBackend(BaseBackend):
    """Signs in from an authorization-code callback; knows nothing of passwords."""

    def authenticate(
        self, request: HttpRequest | None, provider: Provider | None = None, **kwargs: Any
    ) -> User | None:
        if request is None or provider is None:
            return None  # not an OpenID callback: another backend's credentials
        try:
            return self._sign_in(request, provider)
        except SignInFailed as exc:
            # Django's authenticate() swallows PermissionDenied; the view reads this.
            request.sign_in_failure = exc
            raise

    def get_user(self, user_id: Any) -> User | None:
        user = User._default_manager.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None

    def _sign_in(self, request: HttpRequest, provider: Provider) -> User:
        pending = login_state.pop(request, request.GET.get("state"))
        if pending is None or pending.provider != provider.name:
            raise SignInFailed(
                UNKNOWN_STATE, message="This sign-in link has expired or was already used."
            )
        try:
            return self._exchange(request, provider, pending)
        except SignInFailed as exc:
            exc.next_path = pending.next
            raise
        except TokenValidationError as exc:
            raise SignInFailed(f"id_token:{exc.reason}", next_path=pending.next) from exc
        except ProviderUnavailable as exc:
            raise SignInFailed(
                "provider_unavailable", status=503, message=UNAVAILABLE, next_path=pending.next
            ) from exc
        except ProviderError as exc:
            raise SignInFailed(exc.reason, status=502, next_path=pending.next) from exc

    def _exchange(
        self, request: HttpRequest, provider: Provider, pending: login_state.PendingSignIn
    ) -> User:
        params = request.GET
        if "error" in params:
            error = _NOT_AN_ERROR_CODE_CHAR.sub("", params.get("error", ""))[:64]
            cancelled = error == "access_denied"
            raise SignInFailed(
                f"provider_error:{error}",
                message="Sign-in was cancelled." if cancelled else "The provider refused sign-in.",
            )
        metadata = provider.metadata()
        iss = params.get("iss")
        if iss is not None and iss != provider.issuer:
            raise SignInFailed("iss_mismatch")
        if iss is None and metadata.get("authorization_response_iss_parameter_supported") is True:
            raise SignInFailed("iss_missing")
        code = params.get("code")
        if not code:
            raise SignInFailed("code_missing")
        received_at = clock.now()
        response = client.exchange_code(
            provider, code=code, verifier=pending.verifier, redirect_uri=pending.redirect_uri
        )
        claims = validate_id_token(
            response["id_token"], provider, now=clock.now(), nonce=pending.nonce
        )
        if pending.steps_up:
            shortfall = step_up.unmet(
                claims,
                acr_values=pending.acr_values.split(),
                max_age=pending.max_age,
                now=clock.now(),
            )
            if shortfall is not None:
                # Tokens of a sign-in we refuse are given back at once (best effort).
                client.revoke(provider, response.get("refresh_token") or "")
                raise SignInFailed(f"step_up:{shortfall}", status=403, message=NOT_STEPPED_UP)
        claims = self._enriched(provider, response["access_token"], claims)
        user = user_for_identity(provider.issuer, provider.name, claims)
        if not user.is_active:
            raise SignInFailed(
                "account_disabled",
                status=403,
                message="This account has been deactivated. Ask an administrator.",
            )
        apply_claim_rights(user, provider.name, claims, request=request)
        user.oidc_sign_in = SignIn(
            provider=provider,
            claims=claims,
            tokens=token_set_from_response(response, received_at),
            next=pending.next,
            steps_up=pending.steps_up,
        )
        return user

    def _enriched(
        self, provider: Provider, access_token: str, claims: dict[str, Any]
    ) -> dict[str, Any]:
        """The ID token's claims with UserInfo's added, as the provider's mode says.

        UserInfo is enrichment: in "auto" mode it is asked only when the ID token lacks the
        profile, and an access token it refuses (one minted for an API, say) is no reason
        to refuse sign-in. In "required" mode it must answer.
        """
        mode = provider.config.userinfo
        if mode == "never" or (mode == "auto" and not lacks_profile(claims)):
            return claims
        try:
            info = client.userinfo(provider, access_token)
            if info is None and mode == "required":
                raise ProviderError("no_endpoint", step="userinfo")
        except (ProviderError, ProviderUnavailable) as exc:
            reason = exc.reason if isinstance(exc, ProviderError) else "userinfo:unavailable"
            if mode == "required":
                raise SignInFailed(
                    reason,
                    status=503 if isinstance(exc, ProviderUnavailable) else 502,
                    message="The sign-in provider did not give us your profile.",
                ) from exc
            logger.warning("provider=%s userinfo skipped reason=%s", provider.name, reason)
            return claims
        if info is None:
            return claims
        # Core 5.3.2: UserInfo must name the same sub, or it describes someone else.
        if info.get("sub") != claims["sub"]:
            raise SignInFailed("userinfo_sub_mismatch")
        return {**info, **claims}
