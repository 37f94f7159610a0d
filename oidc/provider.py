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
import math
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
NO_MATCHING_KEY = "no matching signing key"
_KTY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


def http_get_json(session: requests.Session, url: str, step: str) -> dict[str, Any]:
    """GET a JSON object from the provider's `step` endpoint; transient failures raise
    ProviderUnavailable, others ProviderError with the status code as the error."""
    try:
        response = session.get(url, timeout=oidc_settings.OIDC_HTTP_TIMEOUT)
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"{step}: GET {url} failed: {type(exc).__name__}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise ProviderUnavailable(
            f"{step}: GET {url} answered {response.status_code}", retry_after_seconds(response)
        )
    if response.status_code != 200:
        raise ProviderError(str(response.status_code), f"GET {url}", step=step)
    try:
        data = response.json()
    except ValueError as exc:
        raise ProviderError("bad_response", f"GET {url} is not JSON", step=step) from exc
    if not isinstance(data, dict):
        raise ProviderError("bad_response", f"GET {url} is not a JSON object", step=step)
    return data


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """Retry-After in seconds, when the provider sent a number."""
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < 86400 else None


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
        # When the JWKS was last requested (monotonic), per budget: the re-fetch rate limit.
        self._keys_tried_at: dict[str, float] = {}
        # When the JWKS was last requested (wall clock, comparable with a token's iat).
        self._keys_looked_at = 0.0

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
            data = http_get_json(self.http, url, "discovery")
            if data.get("issuer") != self.config.issuer:
                found = data.get("issuer")
                raise ProviderMisconfigured(
                    "issuer_mismatch",
                    f"discovery issuer {found!r} is not {self.config.issuer!r}",
                    step="discovery",
                )
            for required in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(data.get(required), str):
                    raise ProviderMisconfigured(
                        "bad_metadata", f"discovery lacks {required}", step="discovery"
                    )
            with self._lock:
                self._metadata, self._metadata_at = data, time.monotonic()
        return self._metadata

    def known_endpoint(self, name: str) -> str | None:
        """An endpoint from the metadata already at hand; never fetches."""
        value = (self._metadata or {}).get(name)
        return value if isinstance(value, str) and value else None

    def endpoint(self, name: str) -> str | None:
        value = self.metadata().get(name)
        return value if isinstance(value, str) and value else None

    def signing_algorithms(self, metadata_field: str) -> frozenset[str]:
        """Our allowlist intersected with what the provider says it uses."""
        advertised = self.metadata().get(metadata_field)
        if isinstance(advertised, list) and advertised:
            return SIGNING_ALGORITHMS & {a for a in advertised if isinstance(a, str)}
        return frozenset({"RS256"})

    def signing_key(
        self, kid: str | None, alg: str, *, budget: str, issued_at: float | None = None
    ) -> Any:
        """The public key to check a signature with `alg`, by `kid`.

        An unknown `kid` re-fetches the JWKS once when the token was issued after the key set
        in hand was fetched (a genuine rotation: pass `issued_at` only for tokens that came
        from the provider itself, over the back channel), and otherwise at most once per
        OIDC_JWKS_MIN_REFETCH_SECONDS per `budget`, so made-up kids posted to an
        unauthenticated endpoint cannot spend the budget of sign-in.
        """
        jwk = self._select(self._key_set(refresh=False, budget=budget), kid, alg)
        if jwk is None and self._may_refetch(budget, issued_at):
            logger.info("provider=%s unknown kid, re-fetching JWKS", self.name)
            jwk = self._select(self._key_set(refresh=True, budget=budget), kid, alg)
        if jwk is None:
            raise TokenValidationError(NO_MATCHING_KEY)
        return jwk.key

    def _may_refetch(self, budget: str, issued_at: float | None) -> bool:
        last = self._keys_tried_at.get(budget)
        since_tried = math.inf if last is None else time.monotonic() - last
        # Issued after our last look at the JWKS: the provider may have rotated since.
        # Still at most once a second, so an outage of the JWKS is not hammered.
        rotated = issued_at is not None and issued_at > self._keys_looked_at
        if rotated and since_tried >= 1.0:
            return True
        return since_tried >= oidc_settings.OIDC_JWKS_MIN_REFETCH_SECONDS

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
                raise ProviderMisconfigured("bad_metadata", str(exc), step="discovery") from exc
            self._jwks = client
        return client

    def _key_set(self, *, refresh: bool, budget: str) -> list[jwt.PyJWK]:
        client = self._jwks_client()
        fetching = refresh or client.jwk_set_cache is None or client.jwk_set_cache.get() is None
        if fetching:
            self._keys_tried_at[budget] = time.monotonic()
            self._keys_looked_at = time.time()
        try:
            return list(client.get_jwk_set(refresh=refresh).keys)
        except jwt.PyJWKClientConnectionError as exc:
            cause = exc.__cause__
            if isinstance(cause, HTTPError) and cause.code < 500 and cause.code != 429:
                raise ProviderError(str(cause.code), "JWKS", step="jwks") from exc
            raise ProviderUnavailable("JWKS unreachable") from exc
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, ValueError) as exc:
            raise ProviderError("bad_response", type(exc).__name__, step="jwks") from exc

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
