"""Calls to a provider's endpoints on behalf of the BFF: authorize URL (pushed, RFC 9126,
where required or configured), code exchange, refresh, revocation, UserInfo. authlib does
client authentication (private_key_jwt too) and PKCE; every failure is mapped to
ProviderUnavailable (transient) or ProviderError / InvalidGrant (final)."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session

from oidc.client_keys import ClientAssertion, load_client_keys
from oidc.conf import oidc_settings
from oidc.exceptions import InvalidGrant, ProviderError, ProviderUnavailable
from oidc.provider import USER_AGENT, Provider, http_get_json, retry_after_seconds

logger = logging.getLogger(__name__)

TOKEN = "token_endpoint"
PAR = "pushed_authorization_request"
TOKEN_AUTH_METHODS = "token_endpoint_auth_methods_supported"
OAUTH_ERROR = re.compile(r"[a-z0-9_]{1,64}")  # what an error page may echo of a provider's


def random_secret() -> str:
    """256 bits, URL-safe: state, nonce and PKCE verifier."""
    return secrets.token_urlsafe(32)


def s256_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _auth_method(provider: Provider, field: str) -> str:
    """The configured client authentication, else chosen from discovery (basic first)."""
    if provider.config.client_auth_method:
        return provider.config.client_auth_method
    metadata = provider.metadata()
    # A provider that lists no methods for revocation takes the client's one registered method.
    supported = metadata.get(field) or metadata.get(TOKEN_AUTH_METHODS) or ["client_secret_basic"]
    if provider.config.client_private_key and "private_key_jwt" in supported:
        return "private_key_jwt"
    if not provider.config.client_secret:
        return "none"
    if "client_secret_basic" in supported:
        return "client_secret_basic"
    if "client_secret_post" in supported:
        return "client_secret_post"
    return "client_secret_basic"


def _session(provider: Provider, field: str) -> OAuth2Session:
    session = OAuth2Session(
        client_id=provider.config.client_id,
        client_secret=provider.config.client_secret or None,
        token_endpoint_auth_method=_auth_method(provider, field),
        revocation_endpoint_auth_method=_auth_method(provider, field),
    )
    session.headers["User-Agent"] = USER_AGENT
    if provider.config.client_private_key:
        keys = load_client_keys(provider.config.client_private_key, provider.config.client_key_id)
        session.register_client_auth_method(ClientAssertion(keys.signing, provider.issuer))
    return session


def _token_request(provider: Provider, call: str, **kwargs: Any) -> dict[str, Any]:
    """POST to the token endpoint through authlib; classify every failure."""
    url = provider.metadata()["token_endpoint"]
    with _session(provider, TOKEN_AUTH_METHODS) as session:
        try:
            token = getattr(session, call)(url, timeout=oidc_settings.OIDC_HTTP_TIMEOUT, **kwargs)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status >= 500 or status == 429:
                raise ProviderUnavailable(
                    f"token endpoint answered {status}", retry_after_seconds(exc.response)
                ) from exc
            raise ProviderError(
                "bad_response", f"token endpoint answered {status}", step=TOKEN
            ) from exc
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"token endpoint: {type(exc).__name__}") from exc
        except AuthlibBaseError as exc:
            error = getattr(exc, "error", "") or "error"
            description = getattr(exc, "description", "") or ""
            if error == "invalid_grant":
                raise InvalidGrant(error, description, step=TOKEN) from exc
            if error in ("temporarily_unavailable", "server_error", "slow_down"):
                raise ProviderUnavailable(f"token endpoint: {error}") from exc
            raise ProviderError(error, description, step=TOKEN) from exc
        except ValueError as exc:  # a non-JSON 4xx body
            raise ProviderError(
                "bad_response", "token endpoint answered no JSON object", step=TOKEN
            ) from exc
    token = dict(token)
    if not isinstance(token.get("access_token"), str) or not token["access_token"]:
        raise ProviderError("bad_response", "no access_token in the token response", step=TOKEN)
    if str(token.get("token_type", "")).lower() != "bearer":
        raise ProviderError("bad_response", "token_type is not Bearer", step=TOKEN)
    return token


def requested_scopes(provider: Provider) -> list[str]:
    """The configured scopes, less `offline_access` where the provider lists its scopes
    without it (Google rejects it and takes `access_type=offline` instead)."""
    supported = provider.metadata().get("scopes_supported")
    scopes = list(provider.config.scopes)
    if isinstance(supported, list) and supported and "offline_access" not in supported:
        scopes = [scope for scope in scopes if scope != "offline_access"]
    return scopes


def authorization_url(
    provider: Provider,
    *,
    redirect_uri: str,
    state: str,
    nonce: str,
    verifier: str,
    reauthenticate: bool = False,
    acr_values: str = "",
    max_age: int | None = None,
) -> str:
    """The authorization request. `reauthenticate` asks the provider to authenticate the
    person again even with a live session there: `prompt=login`, or `max_age=0` where the
    provider lists the prompts it supports and `login` is not one (Core 3.1.2.1).
    `acr_values` and `max_age` ask for a level and a recency of authentication (step-up)."""
    metadata = provider.metadata()
    endpoint = metadata["authorization_endpoint"]
    params = {
        **provider.config.auth_params,
        "response_type": "code",
        "client_id": provider.config.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(requested_scopes(provider)),
        "state": state,
        "nonce": nonce,
        "code_challenge": s256_challenge(verifier),
        "code_challenge_method": "S256",
    }
    if acr_values:
        params["acr_values"] = acr_values
    if max_age is not None:
        params["max_age"] = str(max_age)
    if reauthenticate:
        supported = metadata.get("prompt_values_supported")
        if isinstance(supported, list) and "login" not in supported:
            params["max_age"] = "0"
        else:
            prompts = [p for p in params.get("prompt", "").split() if p != "none"]
            params["prompt"] = " ".join(dict.fromkeys(["login", *prompts]))
    if provider.config.use_par or metadata.get("require_pushed_authorization_requests") is True:
        params = {"client_id": params["client_id"], "request_uri": _push(provider, params)}
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


def _push(provider: Provider, params: dict[str, str]) -> str:
    """RFC 9126: POST the authorization parameters with client authentication; the
    request_uri that stands for them. Transient failures raise ProviderUnavailable, any
    other refusal or unusable answer ProviderError (step "pushed_authorization_request")."""
    url = provider.endpoint("pushed_authorization_request_endpoint")
    if not url:
        raise ProviderError("bad_metadata", "no pushed_authorization_request_endpoint", step=PAR)
    method = _auth_method(provider, TOKEN_AUTH_METHODS)
    if method in ("none", "client_secret_post"):
        params = {k: v for k, v in params.items() if k != "client_id"}  # authlib adds it
    with _session(provider, TOKEN_AUTH_METHODS) as session:
        try:
            response = session.post(
                url,
                data=params,
                auth=session.client_auth(method),
                timeout=oidc_settings.OIDC_HTTP_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"{PAR}: {type(exc).__name__}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise ProviderUnavailable(
            f"{PAR} answered {response.status_code}", retry_after_seconds(response)
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ProviderError("bad_response", f"answered {response.status_code}, no JSON", step=PAR)
    if response.status_code not in (200, 201):
        error = body.get("error")
        error = error if isinstance(error, str) and OAUTH_ERROR.fullmatch(error) else "bad_response"
        raise ProviderError(error, str(body.get("error_description") or ""), step=PAR)
    request_uri = body.get("request_uri")
    if not isinstance(request_uri, str) or not request_uri:
        raise ProviderError("bad_response", "no request_uri", step=PAR)
    return request_uri


def exchange_code(
    provider: Provider, *, code: str, verifier: str, redirect_uri: str
) -> dict[str, Any]:
    token = _token_request(
        provider,
        "fetch_token",
        grant_type="authorization_code",
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=verifier,
    )
    if not isinstance(token.get("id_token"), str):
        raise ProviderError("bad_response", "no id_token in the token response", step=TOKEN)
    return token


def refresh(provider: Provider, refresh_token: str, *, resource: str = "") -> dict[str, Any]:
    """The refresh grant; with `resource` (RFC 8707) an access token minted for it."""
    extra = {"resource": resource} if resource else {}
    return _token_request(provider, "refresh_token", refresh_token=refresh_token, **extra)


TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def exchange_token(
    provider: Provider,
    subject_token: str,
    *,
    audience: str = "",
    resource: str = "",
    scope: str = "",
) -> dict[str, Any]:
    """RFC 8693 token exchange: an access token for `audience` / `resource` in place of the
    user's access token `subject_token`. An `invalid_grant` means the subject token was
    refused, not that the session is over."""
    params = {
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "requested_token_type": ACCESS_TOKEN_TYPE,
        **{
            k: v for k, v in (("audience", audience), ("resource", resource), ("scope", scope)) if v
        },
    }
    return _token_request(provider, "fetch_token", grant_type=TOKEN_EXCHANGE, **params)


def revoke(provider: Provider, token: str, hint: str = "refresh_token") -> bool:
    """RFC 7009 revocation; best effort, returns whether the provider accepted it."""
    try:
        url = provider.endpoint("revocation_endpoint")
    except (ProviderUnavailable, ProviderError):
        return False
    if not url or not token:
        return False
    with _session(provider, "revocation_endpoint_auth_methods_supported") as session:
        try:
            response = session.revoke_token(
                url, token=token, token_type_hint=hint, timeout=oidc_settings.OIDC_HTTP_TIMEOUT
            )
        except (requests.RequestException, AuthlibBaseError) as exc:
            logger.warning("provider=%s revocation failed: %s", provider.name, type(exc).__name__)
            return False
    if response.status_code != 200:
        logger.warning("provider=%s revocation answered %s", provider.name, response.status_code)
    return response.status_code == 200


def userinfo(provider: Provider, access_token: str) -> dict[str, Any] | None:
    """The UserInfo response, or None when the provider has no UserInfo endpoint.

    Raises ProviderError (step "userinfo", error the status: "userinfo:401") or
    ProviderUnavailable; a JWT response (signed UserInfo) is not read.
    """
    url = provider.endpoint("userinfo_endpoint")
    if not url:
        return None
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {access_token}"
        session.headers["User-Agent"] = USER_AGENT
        return http_get_json(session, url, "userinfo")


def end_session_url(
    provider: Provider, *, id_token: str, post_logout_redirect_uri: str, state: str
) -> str | None:
    """RP-initiated logout URL, or None when the provider has no end_session_endpoint.

    It names the client with `client_id` (RP-Initiated Logout 1.0, 2). The ID token goes as
    `id_token_hint` only for providers configured to need it (logout_id_token_hint): it
    carries the person's name and email into the browser's history.
    """
    try:
        endpoint = provider.endpoint("end_session_endpoint")
    except (ProviderUnavailable, ProviderError):
        return None
    if not endpoint:
        return None
    params = {
        "client_id": provider.config.client_id,
        "post_logout_redirect_uri": post_logout_redirect_uri,
        "state": state,
    }
    if id_token and provider.config.logout_id_token_hint:
        params["id_token_hint"] = id_token
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


def client_credentials(provider: Provider) -> dict[str, Any]:
    """A token for the BFF itself (client credentials grant)."""
    return _token_request(provider, "fetch_token", grant_type="client_credentials")
