"""A test-controlled OpenID Provider on a real HTTP server: everything it sends can be bent.

It serves discovery, a JWKS of RSA keys it generated, an authorization endpoint that
redirects straight back with a code, a token endpoint whose ID token a test may rewrite,
UserInfo, revocation and end-session. It counts the calls to each endpoint and keeps
what it was sent, so a test can assert "no UserInfo call" or check PKCE.

Start one per module or session and call `reset()` between tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"

# A claim or header value that means "leave this one out".
DELETE: Any = object()

ENDPOINTS = {
    "discovery": "/.well-known/openid-configuration",
    "authorize": "/authorize",
    "token": "/token",
    "userinfo": "/userinfo",
    "jwks": "/jwks",
    "revocation": "/revoke",
    "end_session": "/end-session",
}

IdTokenHook = Callable[[dict[str, Any], dict[str, Any]], str]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json_part(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def _apply(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    result = {**base, **changes}
    return {k: v for k, v in result.items() if v is not DELETE}


@dataclass(frozen=True)
class SigningKey:
    """An RSA key pair; `kid` None means the JWK carries no kid."""

    kid: str | None
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str | None) -> SigningKey:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def with_kid(self, kid: str | None) -> SigningKey:
        return SigningKey(kid, self.private)

    @property
    def public_jwk(self) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()

        def encode(n: int) -> str:
            return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

        jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "n": encode(numbers.n), "e": "AQAB"}
        if self.kid is not None:
            jwk["kid"] = self.kid
        return jwk

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def sign_rs256(header: dict[str, Any], claims: dict[str, Any], key: SigningKey) -> str:
    """A compact JWS built by hand, so any header or claim (however wrong) goes through."""
    signing_input = f"{_json_part(header)}.{_json_part(claims)}"
    signature = key.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """`alg: none`: no signature at all."""
    return f"{_json_part({**header, 'alg': 'none'})}.{_json_part(claims)}."


def hs256_with_public_key(header: dict[str, Any], claims: dict[str, Any], key: SigningKey) -> str:
    """The algorithm-confusion attack: HMAC keyed with the public key's PEM bytes."""
    signing_input = f"{_json_part({**header, 'alg': 'HS256'})}.{_json_part(claims)}"
    mac = hmac.new(key.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def tamper_signature(token: str) -> str:
    """Flip bits of the signature: same header and claims, invalid signature."""
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0xFF
    raw[-1] ^= 0xFF
    return f"{head}.{body}.{b64url(bytes(raw))}"


class HostileProvider:
    """An OpenID Provider whose every answer a test controls; see the module docstring."""

    client_id = "bff-hostile"
    client_secret = "bff-hostile-secret"

    def __init__(self) -> None:
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self._lock = threading.Lock()
        self._key_pool = [SigningKey.generate(f"key-{i}") for i in range(3)]
        self.reset()

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> HostileProvider:
        self.server.start()
        for name, path in ENDPOINTS.items():
            handler = getattr(self, f"_{name}")
            self.server.expect_request(path).respond_with_handler(self._counted(name, handler))
        return self

    def stop(self) -> None:
        if self.server.is_running():
            self.server.stop()

    def reset(self) -> None:
        """Back to a well-behaved provider with one key; forget every recorded call."""
        with self._lock:
            self.active_key: SigningKey = self._key_pool[0]
            self.jwks_keys: list[SigningKey] = [self.active_key]
            self.subject = "hostile-alice"
            self.profile: dict[str, Any] = {"email": "alice@hostile.test", "name": "Alice Hostile"}
            # (claims, header) -> compact JWT; None: sign the defaults with the active key.
            self.id_token_hook: IdTokenHook | None = None
            # Fields to change in the token endpoint's JSON answer; DELETE removes one.
            self.token_response_overrides: dict[str, Any] = {}
            self.userinfo_overrides: dict[str, Any] = {}
            # Keys to change in the discovery document; DELETE removes one.
            self.discovery_overrides: dict[str, Any] = {}
            # The `iss` authorization response parameter: None (absent), or a value to send.
            self.iss_param: str | None = None
            # params of the authorize request -> query of the redirect back; None: code+state.
            self.authorize_hook: Callable[[dict[str, str]], dict[str, str]] | None = None
            # Endpoint name -> HTTP status it answers with instead of working.
            self.failing: dict[str, int] = {}
            self.calls: Counter[str] = Counter()
            self.authorize_requests: list[dict[str, str]] = []
            self.token_requests: list[dict[str, Any]] = []
            self.revoked: list[dict[str, str]] = []
            self.end_session_requests: list[dict[str, str]] = []
            self.issued: list[dict[str, Any]] = []
            self._codes: dict[str, dict[str, str]] = {}
            self._access_tokens: set[str] = set()
        self.server.clear_log()

    # --- what a test reads and changes ---------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def issuer(self) -> str:
        return self.url

    def endpoint(self, name: str) -> str:
        return self.url + ENDPOINTS[name]

    def fail(self, endpoint: str, status: int = 500) -> None:
        assert endpoint in ENDPOINTS, endpoint
        self.failing[endpoint] = status

    def rotate_keys(self, *, keep_old: bool = False) -> SigningKey:
        """Sign with the next key of the pool (a new kid) and publish it."""
        index = (self._key_pool.index(self.active_key) + 1) % len(self._key_pool)
        self.active_key = self._key_pool[index]
        self.jwks_keys = [*self.jwks_keys, self.active_key] if keep_old else [self.active_key]
        return self.active_key

    def use_single_key_without_kid(self) -> None:
        """One key, no kid in the JWKS or in any token header."""
        self.active_key = self._key_pool[0].with_kid(None)
        self.jwks_keys = [self.active_key]

    def sign(
        self, claims: dict[str, Any], header: dict[str, Any], key: SigningKey | None = None
    ) -> str:
        return sign_rs256(header, claims, key or self.active_key)

    def default_header(self, typ: str = "JWT") -> dict[str, Any]:
        header: dict[str, Any] = {"alg": "RS256", "typ": typ}
        if self.active_key.kid is not None:
            header["kid"] = self.active_key.kid
        return header

    def mutate_id_token(self, *, header: dict[str, Any] | None = None, **claims: Any) -> None:
        """Issue ID tokens with these claims (and header fields) changed; DELETE removes."""
        header_changes = header or {}

        def hook(default_claims: dict[str, Any], default_header: dict[str, Any]) -> str:
            return self.sign(_apply(default_claims, claims), _apply(default_header, header_changes))

        self.id_token_hook = hook

    def logout_claims(self, **changes: Any) -> dict[str, Any]:
        """The claims of a valid back-channel logout token for `self.subject`, changed."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 120,
            "jti": secrets.token_urlsafe(16),
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
            "sub": self.subject,
        }
        return _apply(claims, changes)

    def logout_token(
        self,
        *,
        header: dict[str, Any] | None = None,
        key: SigningKey | None = None,
        **changes: Any,
    ) -> str:
        """A signed logout token; claim and header changes as in mutate_id_token."""
        header = _apply(self.default_header("logout+jwt"), header or {})
        return self.sign(self.logout_claims(**changes), header, key)

    @property
    def last_authorize(self) -> dict[str, str]:
        return self.authorize_requests[-1]

    @property
    def last_token_request(self) -> dict[str, Any]:
        return self.token_requests[-1]

    # --- the endpoints -------------------------------------------------------------------

    def _counted(
        self, name: str, handler: Callable[[Request], Response]
    ) -> Callable[[Request], Response]:
        def respond(request: Request) -> Response:
            with self._lock:
                self.calls[name] += 1
                status = self.failing.get(name)
            if status is not None:
                return Response("provider failure", status=status, content_type="text/plain")
            return handler(request)

        return respond

    def _discovery(self, request: Request) -> Response:
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": self.endpoint("authorize"),
            "token_endpoint": self.endpoint("token"),
            "userinfo_endpoint": self.endpoint("userinfo"),
            "jwks_uri": self.endpoint("jwks"),
            "revocation_endpoint": self.endpoint("revocation"),
            "end_session_endpoint": self.endpoint("end_session"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
        }
        return _json(_apply(document, self.discovery_overrides))

    def _jwks(self, request: Request) -> Response:
        return _json({"keys": [key.public_jwk for key in self.jwks_keys]})

    def _authorize(self, request: Request) -> Response:
        params = dict(request.args.items())
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.authorize_requests.append(params)
            self._codes[code] = params
        if self.authorize_hook is not None:
            query = self.authorize_hook(params)
        else:
            query = {"code": code, "state": params.get("state", "")}
            if self.iss_param is not None:
                query["iss"] = self.iss_param
        redirect_uri = params.get("redirect_uri", "")
        location = redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(query)
        return Response(status=302, headers={"Location": location})

    def _token(self, request: Request) -> Response:
        form = dict(request.form.items())
        entry: dict[str, Any] = {
            "form": form,
            "authorization": request.headers.get("Authorization"),
        }
        with self._lock:
            self.token_requests.append(entry)
        if form.get("grant_type") == "refresh_token":
            return self._token_response(None)
        if form.get("grant_type") == "client_credentials":
            token = {"access_token": "cc-" + secrets.token_urlsafe(24), "token_type": "Bearer"}
            with self._lock:
                self.issued.append(token)
            return _json({**token, "expires_in": 3600})
        if form.get("grant_type") != "authorization_code":
            return _json({"error": "unsupported_grant_type"}, 400)
        with self._lock:
            params = self._codes.pop(form.get("code", ""), None)
        if params is None:
            return _json({"error": "invalid_grant", "error_description": "unknown code"}, 400)
        verifier = form.get("code_verifier", "")
        entry["pkce_ok"] = bool(verifier) and s256(verifier) == params.get("code_challenge")
        if not entry["pkce_ok"]:
            return _json({"error": "invalid_grant", "error_description": "PKCE failed"}, 400)
        if form.get("redirect_uri") != params.get("redirect_uri"):
            return _json({"error": "invalid_grant", "error_description": "redirect_uri"}, 400)
        return self._token_response(params)

    def _token_response(self, params: dict[str, str] | None) -> Response:
        now = int(time.time())
        sid = "sid-" + secrets.token_urlsafe(12)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.client_id,
            "exp": now + 300,
            "iat": now,
            "auth_time": now,
            "sid": sid,
            **self.profile,
        }
        if params is not None and "nonce" in params:
            claims["nonce"] = params["nonce"]
        header = self.default_header()
        hook = self.id_token_hook
        id_token = hook(claims, header) if hook is not None else self.sign(claims, header)
        issued = {
            "access_token": "at-" + secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": "rt-" + secrets.token_urlsafe(24),
            "id_token": id_token,
            "scope": (params or {}).get("scope", "openid"),
        }
        with self._lock:
            self._access_tokens.add(issued["access_token"])
            self.issued.append({**issued, "sid": sid})
        return _json(_apply(issued, self.token_response_overrides))

    def _userinfo(self, request: Request) -> Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self._access_tokens:
            return _json({"error": "invalid_token"}, 401)
        return _json(_apply({"sub": self.subject, **self.profile}, self.userinfo_overrides))

    def _revocation(self, request: Request) -> Response:
        entry = {
            **dict(request.form.items()),
            "authorization": request.headers.get("Authorization", ""),
        }
        with self._lock:
            self.revoked.append(entry)
        return Response("", status=200)

    def _end_session(self, request: Request) -> Response:
        with self._lock:
            self.end_session_requests.append(dict(request.args.items()))
        return Response("<p>Signed out at the provider.</p>", content_type="text/html")


def _json(data: dict[str, Any], status: int = 200) -> Response:
    return Response(
        json.dumps(data),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
