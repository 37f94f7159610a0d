"""A configured OpenID Provider at run time: its discovery metadata and signing keys.

The discovery document is fetched over HTTP, cached per process and re-read after a TTL.
Keys come from PyJWT's PyJWKClient (fetching, caching, parsing the JWKS); on top of it we
keep our rules: keys only from `jwks_uri`, asymmetric algorithms only, the key type must
fit the algorithm, and an unknown `kid` re-fetches the JWKS at most once per
OIDC_JWKS_MIN_REFETCH_SECONDS, so key rotation works without a restart and a flood of
forged kids cannot hammer the provider.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.error import HTTPError

import jwt
import requests

from oidc.conf import SIGNING_ALGORITHMS, ProviderConfig, oidc_settings
from oidc.exceptions import (
    ProviderError,
    ProviderMisconfigured,
    ProviderUnavailable,
    TokenValidationError,
)

logger = logging.getLogger(__name__)

USER_AGENT = "django-bff"
_KTY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


def http_get_json(session: requests.Session, url: str) -> dict[str, Any]:
    """GET a JSON object from the provider; transient failures raise ProviderUnavailable."""
    try:
        response = session.get(url, timeout=oidc_settings.OIDC_HTTP_TIMEOUT)
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"GET {url} failed: {type(exc).__name__}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise ProviderUnavailable(f"GET {url} answered {response.status_code}")
    if response.status_code != 200:
        raise ProviderError("bad_response", f"GET {url} answered {response.status_code}")
    try:
        data = response.json()
    except ValueError as exc:
        raise ProviderError("bad_response", f"GET {url} is not JSON") from exc
    if not isinstance(data, dict):
        raise ProviderError("bad_response", f"GET {url} is not a JSON object")
    return data


class Provider:
    """Metadata, keys and an HTTP session for one configured provider."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.http = requests.Session()
        self.http.headers["User-Agent"] = USER_AGENT
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: jwt.PyJWKClient | None = None
        # When the JWKS was last requested, successfully or not: the re-fetch rate limit.
        self._keys_tried_at = 0.0

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def issuer(self) -> str:
        return self.config.issuer

    def metadata(self) -> dict[str, Any]:
        """The discovery document; its `issuer` must equal the configured issuer exactly."""
        ttl = oidc_settings.OIDC_METADATA_TTL_SECONDS
        if self._metadata is None or time.monotonic() - self._metadata_at > ttl:
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            data = http_get_json(self.http, url)
            if data.get("issuer") != self.config.issuer:
                raise ProviderMisconfigured(
                    "issuer_mismatch",
                    f"discovery issuer {data.get('issuer')!r} is not {self.config.issuer!r}",
                )
            for required in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(data.get(required), str):
                    raise ProviderMisconfigured("bad_metadata", f"discovery lacks {required}")
            with self._lock:
                self._metadata, self._metadata_at = data, time.monotonic()
        return self._metadata

    def endpoint(self, name: str) -> str | None:
        value = self.metadata().get(name)
        return value if isinstance(value, str) and value else None

    def signing_algorithms(self, metadata_field: str) -> frozenset[str]:
        """Our allowlist intersected with what the provider says it uses."""
        advertised = self.metadata().get(metadata_field)
        if isinstance(advertised, list) and advertised:
            return SIGNING_ALGORITHMS & {a for a in advertised if isinstance(a, str)}
        return frozenset({"RS256"})

    def signing_key(self, kid: str | None, alg: str) -> Any:
        """The public key to check a signature with `alg`, by `kid` (one re-fetch if unknown)."""
        jwk = self._select(self._key_set(refresh=False), kid, alg)
        since_tried = time.monotonic() - self._keys_tried_at
        if jwk is None and since_tried >= oidc_settings.OIDC_JWKS_MIN_REFETCH_SECONDS:
            logger.info("provider=%s unknown kid, re-fetching JWKS", self.name)
            jwk = self._select(self._key_set(refresh=True), kid, alg)
        if jwk is None:
            raise TokenValidationError("no matching signing key")
        return jwk.key

    def _jwks_client(self) -> jwt.PyJWKClient:
        uri = self.metadata()["jwks_uri"]
        client = self._jwks
        if client is None or client.uri != uri:
            try:
                client = jwt.PyJWKClient(
                    uri,
                    lifespan=oidc_settings.OIDC_METADATA_TTL_SECONDS,
                    headers={"User-Agent": USER_AGENT},
                    timeout=max(oidc_settings.OIDC_HTTP_TIMEOUT),
                    cooldown_duration=oidc_settings.OIDC_JWKS_MIN_REFETCH_SECONDS,
                )
            except jwt.PyJWKClientError as exc:
                raise ProviderMisconfigured("bad_metadata", str(exc)) from exc
            self._jwks = client
        return client

    def _key_set(self, *, refresh: bool) -> list[jwt.PyJWK]:
        client = self._jwks_client()
        if refresh or client.jwk_set_cache is None or client.jwk_set_cache.get() is None:
            self._keys_tried_at = time.monotonic()
        try:
            return list(client.get_jwk_set(refresh=refresh).keys)
        except jwt.PyJWKClientConnectionError as exc:
            cause = exc.__cause__
            if isinstance(cause, HTTPError) and cause.code < 500 and cause.code != 429:
                raise ProviderError("bad_jwks", f"JWKS answered {cause.code}") from exc
            raise ProviderUnavailable("JWKS unreachable") from exc
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, ValueError) as exc:
            raise ProviderError("bad_jwks", f"JWKS unusable: {type(exc).__name__}") from exc

    @staticmethod
    def _select(keys: list[jwt.PyJWK], kid: str | None, alg: str) -> jwt.PyJWK | None:
        candidates = [
            k
            for k in keys
            if (k.public_key_use or "sig") == "sig"
            and k._jwk_data.get("alg", alg) == alg  # a key pinned to another alg is no fit
            and k.key_type == _KTY.get(alg[:2])
        ]
        if kid is not None:
            return next((k for k in candidates if k.key_id == kid), None)
        # Core 10.1: without a kid the JWKS must hold exactly one usable key.
        return candidates[0] if len(candidates) == 1 else None


_providers: dict[str, Provider] = {}
_providers_lock = threading.Lock()


def get_provider(name: str) -> Provider:
    """The Provider for a configured name; KeyError when not configured."""
    config = oidc_settings.providers()[name]
    provider = _providers.get(name)
    if provider is None or provider.config != config:
        with _providers_lock:
            provider = _providers.get(name)
            if provider is None or provider.config != config:
                provider = _providers[name] = Provider(config)
    return provider


def default_provider_name() -> str:
    return next(iter(oidc_settings.providers()))


def reset_providers() -> None:
    """Forget cached metadata and keys (tests; a changed configuration)."""
    with _providers_lock:
        _providers.clear()
