"""The BFF's own signing keys for `private_key_jwt` client authentication (RFC 7523,
OpenID Connect Core 9), and the JWKS of their public halves that providers fetch.

A provider's key is configured as a PEM private key, a private JWK, or a private JWK Set
(the first key signs; every key is published, so a new key can be announced before it is
used and an old one kept until the provider has dropped its cached copy).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key

# Short, and one-time by its jti: a captured assertion is worth little (RFC 7523 3, 3.7).
ASSERTION_LIFETIME_SECONDS = 60
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
PUBLIC_JWK_MEMBERS = ("kty", "crv", "n", "e", "x", "y")
_EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
AsymmetricKey = RSAKey | ECKey | OKPKey
_PEM_TYPES = (
    (RSAKey, rsa.RSAPrivateKey),
    (ECKey, ec.EllipticCurvePrivateKey),
    (OKPKey, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)),
)


class ClientKeyError(ValueError):
    """The configured client key cannot be used; the message says why (never the key)."""


@dataclass(frozen=True)
class ClientKey:
    """A private key that signs client assertions, with its kid and algorithm."""

    key: AsymmetricKey
    kid: str
    alg: str

    def public_jwk(self) -> dict[str, Any]:
        """Only the public members: no private part, and no `key_ops: ["sign"]` a private
        JWK may carry (a provider refuses a verification key marked for signing)."""
        jwk = self.key.as_dict(private=False)
        public = {name: jwk[name] for name in PUBLIC_JWK_MEMBERS if name in jwk}
        return {**public, "kid": self.kid, "alg": self.alg, "use": "sig"}


@dataclass(frozen=True)
class ClientKeys:
    """The signing key and every key to publish (the signing key first)."""

    signing: ClientKey
    published: tuple[ClientKey, ...]


def _algorithm(key: AsymmetricKey, declared: str | None) -> str:
    """The JWK's own `alg` when it fits the key, else the usual one for the key type."""
    if isinstance(key, RSAKey):
        allowed = _RSA_ALGORITHMS
    elif isinstance(key, ECKey):
        if key.curve_name not in _EC_ALGORITHMS:
            raise ClientKeyError(f"EC curve {key.curve_name} is not supported")
        allowed = (_EC_ALGORITHMS[key.curve_name],)
    else:
        allowed = ("EdDSA",)
    if declared is not None and declared not in allowed:
        raise ClientKeyError(f"alg {declared!r} does not fit the key; use one of {allowed}")
    return declared or allowed[0]


def _client_key(key: Any, kid: str, declared_alg: str | None) -> ClientKey:
    if not isinstance(key, (RSAKey, ECKey, OKPKey)):
        raise ClientKeyError("the client key must be an RSA, EC or OKP key, not a shared secret")
    if not key.is_private:
        raise ClientKeyError("the client key is a public key; configure the private key")
    if isinstance(key, RSAKey) and key.raw_value.key_size < 2048:
        raise ClientKeyError("an RSA client key must have at least 2048 bits")
    # RFC 7638 thumbprint when no kid is given: stable for the key, says nothing secret.
    return ClientKey(key=key, kid=kid or key.thumbprint(), alg=_algorithm(key, declared_alg))


def _pem_key(pem: bytes) -> Any:
    if b"PUBLIC KEY-----" in pem or b"CERTIFICATE-----" in pem:
        raise ClientKeyError("the client key is a public key; configure the private key")
    private = serialization.load_pem_private_key(pem, password=None)
    for cls, kind in _PEM_TYPES:
        if isinstance(private, kind):
            return cls.import_key(pem)
    raise ClientKeyError("the client key must be an RSA, EC or Ed25519/Ed448 key")


def _parse(text: str) -> list[tuple[Any, str, str | None]]:
    """(key, kid, alg) for each key in a PEM, a JWK or a JWK Set."""
    text = text.strip()
    if "\\n" in text and "\n" not in text:
        text = text.replace("\\n", "\n")  # a PEM squeezed onto one line of an env file
    if text.startswith("-----BEGIN"):
        return [(_pem_key(text.encode()), "", None)]
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ClientKeyError("the client key is neither a PEM key nor a JSON JWK") from exc
    if not isinstance(data, dict):
        raise ClientKeyError("the client key JSON must be a JWK or a JWK Set object")
    members = data.get("keys") if "keys" in data else [data]
    if not isinstance(members, list) or not members:
        raise ClientKeyError("the client JWK Set holds no keys")
    if not all(isinstance(member, dict) for member in members):
        raise ClientKeyError("every member of the client JWK Set must be a JWK object")
    return [(import_key(member), member.get("kid", ""), member.get("alg")) for member in members]


@functools.lru_cache(maxsize=16)
def load_client_keys(text: str, kid: str = "") -> ClientKeys:
    """Parse a configured client key; `kid` names the signing key when the key has none."""
    try:
        parsed = _parse(text)
        keys = [
            _client_key(key, key_kid or (kid if index == 0 else ""), alg)
            for index, (key, key_kid, alg) in enumerate(parsed)
        ]
    except ClientKeyError:
        raise
    except (JoseError, UnsupportedAlgorithm, ValueError, TypeError, KeyError) as exc:
        raise ClientKeyError(f"the client key cannot be read ({type(exc).__name__})") from None
    kids = [key.kid for key in keys]
    if len(set(kids)) != len(kids):
        raise ClientKeyError("two client keys share a kid")
    return ClientKeys(signing=keys[0], published=tuple(keys))


def public_jwks(key_texts: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The JWK Set of the public halves of the configured (key, kid) pairs, one per kid."""
    seen: dict[str, dict[str, Any]] = {}
    for text, kid in key_texts:
        for key in load_client_keys(text, kid).published:
            seen.setdefault(key.kid, key.public_jwk())
    return {"keys": list(seen.values())}


class ClientAssertion(PrivateKeyJWT):
    """authlib's private_key_jwt, with the issuer identifier as the one audience
    (draft-ietf-oauth-rfc7523bis: the same value at the token, revocation and PAR
    endpoints) and a 60-second lifetime; a fresh jti for every request."""

    def __init__(self, key: ClientKey, issuer: str) -> None:
        super().__init__(token_endpoint=issuer, alg=key.alg)
        self.client_key = key

    def sign(self, auth: Any, token_endpoint: str) -> str:
        return private_key_jwt_sign(
            self.client_key.key,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,  # the issuer, from __init__
            alg=self.alg,
            header={"kid": self.client_key.kid},
            expires_in=ASSERTION_LIFETIME_SECONDS,
        )
