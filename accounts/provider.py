"""A configured OpenID Provider at run time: its discovery metadata and signing keys.

Both are fetched over HTTP, cached per process, and re-read after a TTL; an unknown `kid`
re-fetches the JWKS at most once per OIDC_JWKS_MIN_REFETCH_SECONDS so key rotation works
without a restart and a flood of forged kids cannot hammer the provider.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import requests
from jwt.algorithms import get_default_algorithms

from accounts.conf import ProviderConfig, accounts_settings
from accounts.exceptions import (
    ProviderError,
    ProviderMisconfigured,
    ProviderUnavailable,
    TokenValidationError,
)

logger = logging.getLogger(__name__)

_ALGORITHMS = get_default_algorithms()


def http_get_json(session: requests.Session, url: str) -> dict[str, Any]:
    """GET a JSON object from the provider; transient failures raise ProviderUnavailable."""
    try:
        response = session.get(url, timeout=accounts_settings.OIDC_HTTP_TIMEOUT)
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
        self.http.headers["User-Agent"] = "django-bff"
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: list[dict[str, Any]] = []
        self._keys_at = 0.0
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
        ttl = accounts_settings.OIDC_METADATA_TTL_SECONDS
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
        from accounts.conf import SIGNING_ALGORITHMS

        advertised = self.metadata().get(metadata_field)
        if isinstance(advertised, list) and advertised:
            return SIGNING_ALGORITHMS & set(advertised)
        return frozenset({"RS256"})

    def _fetch_keys(self) -> None:
        self._keys_tried_at = time.monotonic()
        data = http_get_json(self.http, self.metadata()["jwks_uri"])
        keys = data.get("keys")
        if not isinstance(keys, list):
            raise ProviderError("bad_jwks", "JWKS has no keys array")
        with self._lock:
            self._keys = [k for k in keys if isinstance(k, dict)]
            self._keys_at = time.monotonic()

    def signing_key(self, kid: str | None, alg: str) -> Any:
        """The public key to check a signature with `alg`, by `kid` (one re-fetch if unknown)."""
        age = time.monotonic() - self._keys_at
        if not self._keys or age > accounts_settings.OIDC_METADATA_TTL_SECONDS:
            self._fetch_keys()
        jwk = self._select(kid, alg)
        since_tried = time.monotonic() - self._keys_tried_at
        if jwk is None and since_tried >= accounts_settings.OIDC_JWKS_MIN_REFETCH_SECONDS:
            logger.info("provider=%s unknown kid, re-fetching JWKS", self.name)
            self._fetch_keys()
            jwk = self._select(kid, alg)
        if jwk is None:
            raise TokenValidationError("no matching signing key")
        try:
            return _ALGORITHMS[alg].from_jwk(json.dumps(jwk))
        except Exception as exc:  # InvalidKeyError and friends: a key unfit for `alg`
            raise TokenValidationError("signing key does not fit the algorithm") from exc

    def _select(self, kid: str | None, alg: str) -> dict[str, Any] | None:
        candidates = [
            k
            for k in self._keys
            if k.get("use", "sig") == "sig"
            and k.get("alg", alg) == alg
            and k.get("kty") == _KTY.get(alg[:2])
        ]
        if kid is not None:
            return next((k for k in candidates if k.get("kid") == kid), None)
        # Core 10.1: without a kid the JWKS must hold exactly one usable key.
        return candidates[0] if len(candidates) == 1 else None


_KTY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}

_providers: dict[str, Provider] = {}
_providers_lock = threading.Lock()


def get_provider(name: str) -> Provider:
    """The Provider for a configured name; KeyError when not configured."""
    config = accounts_settings.providers()[name]
    provider = _providers.get(name)
    if provider is None or provider.config != config:
        with _providers_lock:
            provider = _providers.get(name)
            if provider is None or provider.config != config:
                provider = _providers[name] = Provider(config)
    return provider


def default_provider_name() -> str:
    return next(iter(accounts_settings.providers()))


def provider_for_issuer(issuer: str) -> Provider | None:
    for name, config in accounts_settings.providers().items():
        if config.issuer == issuer:
            return get_provider(name)
    return None


def reset_providers() -> None:
    """Forget cached metadata and keys (tests; a changed configuration)."""
    with _providers_lock:
        _providers.clear()
