"""Token exchange (RFC 8693) at the built-in provider: a client trades the access token it
holds for a person for one minted for another API (the `audience`), with the same or fewer
scopes. Only the client the subject token was issued to may exchange it; only audiences
in IDP_TOKEN_EXCHANGE_AUDIENCES are minted for; the new token gets no refresh token.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from oauthlib.common import Request
from oauthlib.oauth2.rfc6749 import errors
from oauthlib.oauth2.rfc6749.grant_types.base import GrantTypeBase
from oauthlib.openid.connect.core.endpoints.pre_configured import Server

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


class InvalidTarget(errors.OAuth2Error):
    """RFC 8693 2.2.2: an audience this provider does not mint tokens for."""

    error = "invalid_target"
    status_code = 400


class TokenExchangeGrant(GrantTypeBase):
    """The token-exchange grant: access token in, access token for `audience` out."""

    def create_token_response(self, request: Request, token_handler: Any) -> tuple:
        headers = self._get_default_headers()
        try:
            self.validate_token_request(request)
        except errors.OAuth2Error as exc:
            headers.update(exc.headers)
            return headers, exc.json, exc.status_code
        token = token_handler.create_token(request, refresh_token=False)
        token["issued_token_type"] = ACCESS_TOKEN_TYPE
        self.request_validator.save_token(token, request)
        return headers, json.dumps(token), 200

    def validate_token_request(self, request: Request) -> None:
        if not self.request_validator.authenticate_client(request):
            raise errors.InvalidClientError(request=request)
        params = dict(request.decoded_body or [])
        for name in ("subject_token", "subject_token_type", "audience"):
            if not params.get(name):
                raise errors.InvalidRequestError(description=f"{name} is required", request=request)
        if params["subject_token_type"] != ACCESS_TOKEN_TYPE:
            raise errors.InvalidRequestError(
                description="subject_token_type must be an access token", request=request
            )
        if params.get("requested_token_type", ACCESS_TOKEN_TYPE) != ACCESS_TOKEN_TYPE:
            raise errors.InvalidRequestError(
                description="only access tokens are issued", request=request
            )
        if params["audience"] not in settings.IDP_TOKEN_EXCHANGE_AUDIENCES:
            raise InvalidTarget(description="audience is not an API of this provider")
        subject = self.request_validator._load_access_token(params["subject_token"])
        if (
            subject is None
            or not subject.is_valid()
            or subject.application_id != request.client.pk
            or subject.user is None
            or not subject.user.is_active
        ):
            raise errors.InvalidGrantError(description="subject_token is not valid")
        granted = set(subject.scopes)
        asked = set(request.scopes or []) if params.get("scope") else granted
        if not asked <= granted:
            raise errors.InvalidScopeError(request=request)
        request.user = subject.user
        request.scopes = sorted(asked)
        # idp.tokens puts it in the access token's `aud`.
        request.audience_resource = params["audience"]


class ExchangeServer(Server):
    """DOT's OpenID Connect server with the token-exchange grant (OIDC_SERVER_CLASS)."""

    def __init__(self, request_validator: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(request_validator, *args, **kwargs)
        self.grant_types[TOKEN_EXCHANGE] = TokenExchangeGrant(request_validator)
