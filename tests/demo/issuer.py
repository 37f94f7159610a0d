"""A fake OpenID provider for the demo API's tests: discovery + JWKS over HTTP, and a minter."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
# Passed as a claim value, removes that default claim from a minted token.
DROP = object()


def rsa_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWS uses it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    """A compact JWS built by hand, for tokens pyjwt refuses to make (alg none, HS256 + PEM)."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = sign(signing_input.encode()) if sign else b""
    return signing_input + "." + b64url(signature)


class FakeIssuer:
    """Serves /o/.well-known/openid-configuration and /o/jwks on 127.0.0.1 for the keys it holds."""

    def __init__(self, path: str = "/o") -> None:
        self.http = HTTPServer(host="127.0.0.1", port=0)
        self.path = path
        self.keys: dict[str, PrivateKey] = {}
        self.published: dict[str, dict[str, Any]] = {}
        # None while up; while down, the HTTP status the provider answers everything with.
        self.status: int | None = None

    def start(self) -> FakeIssuer:
        """Start the HTTP server and register its two endpoints."""
        self.http.start()
        self.http.expect_request(
            f"{self.path}/.well-known/openid-configuration"
        ).respond_with_handler(self._discovery)
        self.http.expect_request(f"{self.path}/jwks").respond_with_handler(self._jwks)
        return self

    def stop(self) -> None:
        """Stop the HTTP server."""
        self.http.clear()
        self.http.stop()

    @property
    def issuer(self) -> str:
        """The issuer URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.http.port}{self.path}"

    def add_key(
        self,
        kid: str,
        key: PrivateKey | None = None,
        *,
        alg: str | None = "RS256",
        publish: bool = True,
    ) -> PrivateKey:
        """Hold a signing key and (by default) publish it in the JWKS."""
        key = key or rsa_key()
        self.keys[kid] = key
        if publish:
            self.publish(kid, alg=alg)
        return key

    def publish(self, kid: str, *, alg: str | None = "RS256") -> None:
        """Put a held key's public half into the JWKS."""
        public = self.keys[kid].public_key()
        algorithm = RSAAlgorithm if isinstance(public, rsa.RSAPublicKey) else ECAlgorithm
        jwk = algorithm.to_jwk(public, as_dict=True)
        jwk.update({"kid": kid, "use": "sig"})
        if alg:
            jwk["alg"] = alg
        self.published[kid] = jwk

    def unpublish(self, kid: str) -> None:
        """Remove a key from the JWKS (it can still sign, as a stolen key could)."""
        self.published.pop(kid, None)

    def public_pem(self, kid: str) -> bytes:
        """The PEM of a key's public half: what an HS256 key-confusion attack signs with."""
        return (
            self.keys[kid]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def claims(self, sub: str = "alice", /, **overrides: Any) -> dict:
        """Default access-token claims for `sub`, with overrides; DROP removes a claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": "demo-api",
            "sub": sub,
            "iat": now,
            "exp": now + 300,
            "scope": "openid profile email",
            "email": f"{sub}@example.com",
            "name": sub.title(),
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not DROP}

    def mint(
        self,
        sub: str = "alice",
        /,
        *,
        kid: str = "k1",
        alg: str = "RS256",
        key: PrivateKey | None = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A signed access token; `key` signs instead of kid's own key (a forgery)."""
        return jwt.encode(
            self.claims(sub, **claims),
            key or self.keys[kid],
            algorithm=alg,
            headers={"kid": kid, **(headers or {})},
        )

    def mint_hs256_with_public_key(self, sub: str = "alice", kid: str = "k1") -> str:
        """The classic key-confusion forgery: HS256 keyed with the RSA public key's PEM."""
        pem = self.public_pem(kid)
        return forge(
            {"alg": "HS256", "typ": "JWT", "kid": kid},
            self.claims(sub),
            lambda data: hmac.new(pem, data, hashlib.sha256).digest(),
        )

    def mint_alg_none(self, sub: str = "alice", kid: str = "k1") -> str:
        """An unsigned token claiming alg none."""
        return forge({"alg": "none", "typ": "JWT", "kid": kid}, self.claims(sub))

    def fetches(self, what: str) -> int:
        """How many times 'discovery' or 'jwks' was requested."""
        path = (
            f"{self.path}/.well-known/openid-configuration"
            if what == "discovery"
            else f"{self.path}/jwks"
        )
        return sum(1 for request, _ in self.http.log if request.path == path)

    def _discovery(self, request: Request) -> Response:
        if self.status:
            return Response("down", status=self.status)
        document = {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
        }
        return Response(json.dumps(document), content_type="application/json")

    def _jwks(self, request: Request) -> Response:
        if self.status:
            return Response("down", status=self.status)
        document = {"keys": list(self.published.values())}
        return Response(json.dumps(document), content_type="application/json")


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    """A fresh EC key, P-256 unless told."""
    return ec.generate_private_key(curve or ec.SECP256R1())
