"""Every setting of the OpenID protocol client, read in one place with its default."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from oidc.app_settings import AppSettings
from oidc.client_keys import ClientKeyError, load_client_keys

DEFAULTS: dict[str, Any] = {
    # {name: {issuer, client_id, client_secret, scopes, auth_params, ...}}; see ProviderConfig.
    "OIDC_PROVIDERS": {},
    # Clock skew allowed on exp / iat of ID and logout tokens (at most 60 s).
    "OIDC_LEEWAY_SECONDS": 60,
    # HTTP timeouts (connect, read) towards the provider.
    "OIDC_HTTP_TIMEOUT": (3.05, 10.0),
    # An unknown `kid` re-fetches the JWKS at most this often.
    "OIDC_JWKS_MIN_REFETCH_SECONDS": 10,
    # Discovery document and JWKS are re-read after this.
    "OIDC_METADATA_TTL_SECONDS": 3600,
}

DEFAULT_SCOPES = ("openid", "profile", "email", "offline_access")

# Asymmetric algorithms only: never `none`, never HMAC (a public key is not a secret).
SIGNING_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

PROVIDER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
USERINFO_MODES = ("auto", "never", "required")
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")

# Reserved authorize parameters that OIDC_AUTH_PARAMS must not override.
RESERVED_AUTH_PARAMS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    }
)


@dataclass(frozen=True)
class ProviderConfig:
    """One configured OpenID Provider."""

    name: str
    issuer: str
    client_id: str
    client_secret: str = ""
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    auth_params: dict[str, str] = field(default_factory=dict)
    # Audiences besides client_id that an ID token may also carry.
    trusted_audiences: tuple[str, ...] = ()
    # UserInfo: "auto" (only when the ID token lacks name or email; a failure is logged and
    # sign-in goes on), "never", or "required" (sign-in fails when it cannot be read).
    userinfo: str = "auto"
    # Token-endpoint client authentication; "" chooses from discovery (private_key_jwt
    # first when a client key is configured, then basic).
    client_auth_method: str = ""
    # private_key_jwt: our private key (PEM, JWK or JWK Set; oidc/client_keys.py) and the
    # kid to publish it under ("" : its RFC 7638 thumbprint). Never shown in a repr.
    client_private_key: str = field(default="", repr=False)
    client_key_id: str = ""
    # Pushed authorization requests (RFC 9126) even where discovery does not require them.
    use_par: bool = False
    # What the sign-in chooser shows; "" shows the name.
    display_name: str = ""

    @property
    def label(self) -> str:
        return self.display_name or self.name

    # Send the ID token as id_token_hint at sign-out (Okta needs it; most take client_id).
    logout_id_token_hint: bool = False
    # Where the provider sends the browser after RP-initiated logout; empty: our "/".
    post_logout_redirect_uri: str = ""


class OIDCSettings(AppSettings):
    """The protocol settings, plus the parsed provider configurations."""

    def providers(self) -> dict[str, ProviderConfig]:
        if "_providers" not in self._cache:
            self._cache["_providers"] = {
                name: _provider_config(name, raw) for name, raw in self.OIDC_PROVIDERS.items()
            }
        return self._cache["_providers"]


def _provider_config(name: str, raw: dict[str, Any]) -> ProviderConfig:
    if not PROVIDER_NAME.fullmatch(name):
        raise ImproperlyConfigured(
            f"OIDC provider name {name!r} must be lower-case letters, digits, '-' or '_' "
            "(it is part of the callback URL)."
        )
    if not raw.get("issuer") or not raw.get("client_id"):
        raise ImproperlyConfigured(
            f"OIDC provider {name!r} needs an issuer and a client id "
            "(set OIDC_ISSUER and OIDC_CLIENT_ID)."
        )
    clashing = RESERVED_AUTH_PARAMS & set(raw.get("auth_params") or {})
    if clashing:
        raise ImproperlyConfigured(
            f"OIDC_AUTH_PARAMS must not set {', '.join(sorted(clashing))}: the BFF sets them."
        )
    scopes = raw.get("scopes") or DEFAULT_SCOPES
    if isinstance(scopes, str):
        scopes = scopes.split()
    if "openid" not in scopes:
        raise ImproperlyConfigured("OIDC_SCOPES must contain 'openid'.")
    userinfo = raw.get("userinfo") or "auto"
    if userinfo not in USERINFO_MODES:
        raise ImproperlyConfigured(
            f"OIDC provider {name!r}: userinfo (OIDC_USERINFO) must be one of "
            f"{', '.join(USERINFO_MODES)}, not {userinfo!r}."
        )
    auth_method = raw.get("client_auth_method") or ""
    if auth_method and auth_method not in CLIENT_AUTH_METHODS:
        raise ImproperlyConfigured(
            f"OIDC provider {name!r}: client_auth_method (OIDC_CLIENT_AUTH_METHOD) must be one "
            f"of {', '.join(CLIENT_AUTH_METHODS)}, not {auth_method!r}."
        )
    private_key = (raw.get("client_private_key") or "").strip()
    key_id = raw.get("client_key_id") or ""
    if private_key:
        try:
            load_client_keys(private_key, key_id)
        except ClientKeyError as exc:
            raise ImproperlyConfigured(
                f"OIDC provider {name!r}: client_private_key (OIDC_CLIENT_PRIVATE_KEY): {exc}."
            ) from None
    elif auth_method == "private_key_jwt":
        raise ImproperlyConfigured(
            f"OIDC provider {name!r}: private_key_jwt needs a private key "
            "(set OIDC_CLIENT_PRIVATE_KEY to a PEM private key or a private JWK)."
        )
    return ProviderConfig(
        name=name,
        issuer=raw["issuer"],
        client_id=raw["client_id"],
        client_secret=raw.get("client_secret", ""),
        scopes=tuple(scopes),
        auth_params=dict(raw.get("auth_params") or {}),
        trusted_audiences=tuple(raw.get("trusted_audiences") or ()),
        userinfo=userinfo,
        client_auth_method=auth_method,
        client_private_key=private_key,
        client_key_id=key_id,
        use_par=_flag(raw.get("use_par", False)),
        display_name=raw.get("display_name") or "",
        logout_id_token_hint=_flag(raw.get("logout_id_token_hint", False)),
        post_logout_redirect_uri=raw.get("post_logout_redirect_uri", ""),
    )


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


oidc_settings = OIDCSettings(DEFAULTS)
