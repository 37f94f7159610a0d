"""The provider's OAuth2Validator: DOT's, plus claims and the refresh token rules it lacks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.common import Request
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from idp import client_assertion
from idp.models import GrantAuthentication


class InvalidTarget(OAuth2Error):
    """RFC 8707 2.2: a resource this provider does not mint tokens for."""

    error = "invalid_target"
    status_code = 400


def _checksum(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _carry(request: Request, authentication: GrantAuthentication | None) -> None:
    """Put a grant's acr and auth_time on the request its tokens are minted for."""
    if authentication is not None:
        request.idp_acr = authentication.acr
        request.idp_auth_time = int(authentication.auth_time.timestamp())


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

    def save_authorization_code(
        self, client_id: str, code: dict[str, Any], request: Request, *args: Any, **kwargs: Any
    ) -> None:
        """DOT's grant, and how the person authenticated (AuthorizeView's credentials)."""
        super().save_authorization_code(client_id, code, request, *args, **kwargs)
        acr = getattr(request, "idp_acr", None)
        if acr:
            GrantAuthentication.objects.create(
                grant=get_grant_model().objects.get(code=code["code"], application=request.client),
                acr=acr,
                auth_time=datetime.fromtimestamp(request.idp_auth_time, UTC),
            )

    def validate_code(
        self, client_id: str, code: str, client: Any, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            return False
        _carry(
            request,
            GrantAuthentication.objects.filter(grant__code=code, grant__application=client).first(),
        )
        return True

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
        if token.token_family:
            # A refreshed token says how the person authenticated at first, as before.
            _carry(
                request,
                GrantAuthentication.objects.filter(token_family=token.token_family).first(),
            )
        # A deactivated account stops getting tokens at once, not when its sessions expire.
        if not token.user.is_active:
            return False
        request.audience_resource = self._resource(request)
        return True

    def _resource(self, request: Request) -> str | None:
        """The one RFC 8707 resource indicator of a refresh grant, if it names a known API:
        its access token is then minted for that resource (aud) alone. DOT checks that it
        is within the refresh token's resources; this, that the provider knows the API."""
        named = [value for key, value in request.decoded_body or [] if key == "resource"]
        if not named:
            return None
        if len(named) > 1 or named[0] not in settings.IDP_RESOURCE_INDICATORS:
            raise InvalidTarget(
                description="resource is not an API this provider issues tokens for",
                request=request,
            )
        return named[0]

    def _create_refresh_token(
        self, request: Request, refresh_token_code: str, access_token: Any, previous: Any
    ) -> Any:
        """DOT's, but a rotated refresh token keeps the resources of the one it replaces: a
        refresh narrowed to one resource (RFC 8707) narrows that access token, not the chain,
        so the next refresh may still ask for any resource of the grant."""
        if previous is None:
            return super()._create_refresh_token(request, refresh_token_code, access_token, None)
        narrowed = request.resource
        request.resource = previous.resource or []
        try:
            return super()._create_refresh_token(
                request, refresh_token_code, access_token, previous
            )
        finally:
            request.resource = narrowed

    def get_id_token_dictionary(
        self, token: dict[str, Any], token_handler: Any, request: Request
    ) -> tuple[dict[str, Any], Any]:
        """DOT's claims, with the grant's acr and auth_time (DOT's is the last login)."""
        claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        if getattr(request, "idp_acr", None):
            claims["acr"] = request.idp_acr
            claims["auth_time"] = request.idp_auth_time
        return claims, expiration_time

    def _save_bearer_token(
        self, token: dict[str, Any], request: Request, *args: Any, **kwargs: Any
    ) -> None:
        """Save as DOT does; fix the response when DOT replays the pair of a grace-period reuse."""
        issued = token.get("access_token")
        super()._save_bearer_token(token, request, *args, **kwargs)
        if getattr(request, "idp_acr", None) and token.get("refresh_token"):
            self._remember_authentication(request, token["refresh_token"])
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

    def _remember_authentication(self, request: Request, refresh_token: str) -> None:
        """The code's acr and auth_time, kept for its refresh-token family."""
        family = (
            get_refresh_token_model()
            .objects.filter(token_checksum=_checksum(refresh_token))
            .values_list("token_family", flat=True)
            .first()
        )
        if family:
            GrantAuthentication.objects.get_or_create(
                token_family=family,
                defaults={
                    "acr": request.idp_acr,
                    "auth_time": datetime.fromtimestamp(request.idp_auth_time, UTC),
                },
            )
