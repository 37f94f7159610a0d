"""The provider's OAuth2Validator: DOT's, plus claims and the refresh token rules it lacks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_id_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.common import Request

from idp import client_assertion


class IdpValidator(OAuth2Validator):
    """Installed as OAUTH2_PROVIDER["OAUTH2_VALIDATOR_CLASS"]."""

    def authenticate_client(self, request: Request, *args: Any, **kwargs: Any) -> bool:
        """DOT's secret methods, plus private_key_jwt for the clients registered with a JWKS
        (idp/client_assertion.py), which may authenticate in no other way."""
        assertion = client_assertion.assertion_of(request)
        if assertion is None:
            authenticated = super().authenticate_client(request, *args, **kwargs)
            return authenticated and not client_assertion.registered_jwks_uri(
                request.client.client_id
            )
        client_id = client_assertion.verified_client_id(assertion)
        if client_id is None or request.client_id not in (None, client_id):
            return False
        request.client_id = client_id
        return self._load_application(client_id, request) is not None

    def get_additional_claims(self) -> dict[str, Callable[[Request], Any]]:
        """ID token and userinfo claims; DOT filters them by scope (name: profile, email: email)."""
        # The request-free signature lets DOT list these in the discovery `claims_supported`.
        return {
            "name": lambda request: request.user.name,
            "email": lambda request: request.user.email,
        }

    def validate_silent_login(self, request: Request) -> bool:
        """prompt=none: DOT's authorization view answers anonymous requests with login_required.

        Only requests from a signed-in person get past that view to the grant, so here the
        answer is yes. DOT leaves this oauthlib hook unimplemented (prompt=none was a 500).
        """
        return True

    def validate_silent_authorization(self, request: Request) -> bool:
        """prompt=none allows no consent page: only clients that never show one qualify."""
        return bool(request.client is not None and request.client.skip_authorization)

    def validate_refresh_token(
        self, refresh_token: str, client: Any, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        """DOT's checks (grace period, reuse detection), then lifetime and account status."""
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        token = request.refresh_token_instance
        # Sliding lifetime: each rotation creates a new refresh token that lives
        # IDP_REFRESH_TOKEN_SECONDS from its own creation. DOT alone would count from its
        # access token's expiry, adding one access token lifetime.
        lifetime = timedelta(seconds=settings.IDP_REFRESH_TOKEN_SECONDS)
        if token.created + lifetime <= timezone.now():
            return False
        # A deactivated account stops getting tokens at once, not when its sessions expire.
        return bool(token.user.is_active)

    def _save_bearer_token(
        self, token: dict[str, Any], request: Request, *args: Any, **kwargs: Any
    ) -> None:
        """Save as DOT does; fix the response when DOT replays the pair of a grace-period reuse."""
        issued = token.get("access_token")
        super()._save_bearer_token(token, request, *args, **kwargs)
        if token.get("access_token") != issued:
            # Within the grace period DOT answers a reused refresh token with the access and
            # refresh tokens it already issued for it. expires_in must then describe that
            # older access token, and the ID token minted for this request carries the at_hash
            # of an access token nobody will ever see: drop it (optional on refresh, OIDC 12.2).
            replayed = (
                get_access_token_model()
                .objects.filter(
                    token_checksum=hashlib.sha256(token["access_token"].encode()).hexdigest()
                )
                .first()
            )
            if replayed is not None:
                remaining = (replayed.expires - timezone.now()).total_seconds()
                token["expires_in"] = max(0, int(remaining))
            token.pop("id_token", None)
            id_token = getattr(request, "id_token", None)
            if isinstance(id_token, get_id_token_model()) and id_token.pk is not None:
                id_token.delete()
