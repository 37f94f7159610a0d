"""The issuer's signing keys: discovered lazily, cached per process, re-fetched on rotation."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from jwt import PyJWTError
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

logger = logging.getLogger(__name__)

# Asymmetric only: HS* would let anyone holding the public key forge tokens, `none` anyone at all.
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256"})
EC_ALGORITHMS = {"ES256": "P-256", "ES384": "P-384"}
ALLOWED_ALGORITHMS = tuple(sorted(RSA_ALGORITHMS | EC_ALGORITHMS.keys()))


class ProviderUnavailable(Exception):
    """The issuer's discovery document or JWKS could not be fetched."""


class UnknownKey(Exception):
    """No usable key in the issuer's JWKS matches the token's header."""


@dataclass(frozen=True)
class SigningKey:
    """One public verification key from the JWKS."""

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    key: Any

    def accepts(self, alg: str) -> bool:
        """Whether a token signed with `alg` may be checked with this key."""
        # A key that names its algorithm is used with that one only (RFC 7517 section 4.4).
        if self.alg is not None and self.alg != alg:
            return False
        if alg in RSA_ALGORITHMS:
            return self.kty == "RSA"
        return self.kty == "EC" and EC_ALGORITHMS.get(alg) == self.crv


def parse_jwks(document: object) -> list[SigningKey]:
    """The usable signature keys of a JWKS document; others are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("JWKS has no 'keys' list")
    keys: list[SigningKey] = []
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        kty = jwk.get("kty")
        try:
            if kty == "RSA":
                key = RSAAlgorithm.from_jwk(jwk)
            elif kty == "EC" and jwk.get("crv") in EC_ALGORITHMS.values():
                key = ECAlgorithm.from_jwk(jwk)
            else:
                continue
        except (PyJWTError, ValueError, TypeError, KeyError):
            # One malformed key must not hide the others.
            logger.warning("skipping unusable JWK kid=%r", jwk.get("kid"))
            continue
        if hasattr(key, "private_numbers"):
            # A JWKS publishes public keys; a private one means a misconfigured provider.
            key = key.public_key()
        keys.append(
            SigningKey(kid=jwk.get("kid"), kty=kty, crv=jwk.get("crv"), alg=jwk.get("alg"), key=key)
        )
    if not keys:
        raise ValueError("JWKS has no usable signature keys")
    return keys


class KeyStore:
    """Thread-safe cache of one issuer's keys; every fetch is single-flight and rate-limited."""

    def __init__(
        self,
        issuer: str,
        *,
        refetch_interval: float = 10.0,
        max_age: float = 3600.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        self.refetch_interval = refetch_interval
        self.max_age = max_age
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._jwks_uri: str | None = None
        # Replaced whole, never mutated, so the lock-free fast path reads a consistent list.
        self._keys: list[SigningKey] | None = None
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")

    def key_for(self, kid: str | None, alg: str) -> SigningKey:
        """The key to verify a token with header `kid` and `alg`, fetching keys when needed."""
        keys = self._keys
        if keys is not None and not self._stale():
            found = _select(keys, kid, alg)
            if found is not None:
                return found
        with self._lock:
            # Another thread may have fetched while this one waited for the lock.
            keys = self._keys
            found = _select(keys, kid, alg) if keys is not None else None
            if found is not None and not self._stale():
                return found
            if self._clock() - self._attempted_at < self.refetch_interval:
                if keys is None:
                    raise ProviderUnavailable("signing keys could not be fetched recently")
                if found is not None:
                    return found
                raise UnknownKey("no matching signing key")
            try:
                keys = self._fetch()
            except ProviderUnavailable:
                if found is not None:
                    # A failed periodic refresh keeps the keys that still verify this token.
                    return found
                raise
        found = _select(keys, kid, alg)
        if found is None:
            raise UnknownKey("no matching signing key")
        return found

    def _stale(self) -> bool:
        return self._clock() - self._fetched_at > self.max_age

    def _fetch(self) -> list[SigningKey]:
        """Fetch discovery (once) and the JWKS; the caller holds the lock."""
        self._attempted_at = self._clock()
        try:
            if self._jwks_uri is None:
                discovery = self._get_json(self.discovery_url)
                jwks_uri = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
                if not isinstance(jwks_uri, str) or not jwks_uri.startswith(
                    ("https://", "http://")
                ):
                    raise ValueError("discovery document has no usable jwks_uri")
                self._jwks_uri = jwks_uri
            keys = parse_jwks(self._get_json(self._jwks_uri))
        except (requests.RequestException, ValueError) as exc:
            # Discover again next time: the provider may have moved its JWKS.
            self._jwks_uri = None
            logger.warning("fetching signing keys via %s failed: %s", self.discovery_url, exc)
            raise ProviderUnavailable(str(exc)) from exc
        self._keys = keys
        self._fetched_at = self._clock()
        logger.info("fetched %d signing key(s) from %s", len(keys), self._jwks_uri)
        return keys

    def _get_json(self, url: str) -> object:
        response = requests.get(
            url, timeout=self.timeout, headers={"Accept": "application/json"}, allow_redirects=False
        )
        response.raise_for_status()
        try:
            return response.json()
        except json.JSONDecodeError as exc:
            raise ValueError(f"{url} did not return JSON") from exc


def _select(keys: list[SigningKey], kid: str | None, alg: str) -> SigningKey | None:
    """The key named by `kid`, or the only compatible key when the token names none."""
    if kid is not None:
        return next((k for k in keys if k.kid == kid and k.accepts(alg)), None)
    candidates = [k for k in keys if k.accepts(alg)]
    return candidates[0] if len(candidates) == 1 else None
