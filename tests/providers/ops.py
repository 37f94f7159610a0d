"""Third-party OpenID Providers as real processes behind a counting ProviderProxy.

Two implementations nobody here wrote, each started from its registry's package:

- `NodeOP`: panva's `oidc-provider` (npm), served by tests/support/node_op/server.mjs;
- `MockOP`: `oidc-provider-mock` (PyPI), served by tests/support/mock_op.py.

Both implement `RunningOP`. The proxy starts first, the provider's issuer is the proxy's URL
(so discovery sends every client through it and refresh grants are counted there), then
`proxy.target` points at the provider. Providers are reached at host name `localhost`, the
BFF at `127.0.0.1`: a browser keeps the two cookie jars apart.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urljoin, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.support.idp import find_form
from tests.support.provider_proxy import ProviderProxy
from tests.support.servers import ROOT, free_port, stop_process

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NODE_OP_DIR = ROOT / "tests" / "support" / "node_op"
MAX_PAGES = 12


@dataclass(frozen=True)
class Account:
    """The one person each provider knows."""

    sub: str = "alice-3f9c"
    email: str = "alice@example.com"
    password: str = "correct horse battery staple"
    name: str = "Alice Example"


ACCOUNT = Account()


class RunningOP(Protocol):
    """What a provider harness offers a test."""

    implementation: str  # e.g. "oidc-provider 9.13.3 (npm)"
    issuer: str  # what the BFF is configured with
    client_id: str
    client_secret: str
    proxy: ProviderProxy
    account: Account  # the one person who can sign in

    def sign_in(self, browser: requests.Session, authorize_url: str) -> requests.Response:
        """Walk the provider's own pages; return its redirect to the client, not followed."""
        ...

    def end_session(self, browser: requests.Session, end_session_url: str) -> requests.Response:
        """Follow an RP-initiated logout, confirm like a person; return the way back."""
        ...

    def calls(self) -> list[dict[str, Any]]:
        """What reached the provider, oldest first (no token values)."""
        ...

    def stop(self) -> None: ...


def signing_key(kid: str) -> dict[str, Any]:
    """A new RSA signing key as a private JWK (the provider publishes only its public part)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def discovery(op: RunningOP) -> dict[str, Any]:
    response = requests.get(f"{op.issuer}/.well-known/openid-configuration", timeout=10)
    response.raise_for_status()
    return response.json()


def token_request(op: RunningOP, **form: str) -> requests.Response:
    """A token-endpoint request made by the test itself (client_secret_basic, or
    private_key_jwt where the provider's client has a private key)."""
    url = discovery(op)["token_endpoint"]
    private_jwk = getattr(op, "client_private_jwk", None)
    if private_jwk is None:
        return requests.post(url, data=form, auth=(op.client_id, op.client_secret), timeout=10)
    now = int(time.time())
    claims = {"iss": op.client_id, "sub": op.client_id, "aud": op.issuer, "iat": now}
    claims.update(exp=now + 60, jti=secrets.token_urlsafe(16))
    assertion = jwt.encode(
        claims, jwt.PyJWK(private_jwk).key, "RS256", headers={"kid": private_jwk["kid"]}
    )
    form.update(client_assertion_type=JWT_BEARER, client_assertion=assertion)
    return requests.post(url, data=form, timeout=10)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _wait_until_serving(
    process: subprocess.Popen, url: str, log_path: Path, timeout: float = 20
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log_path.read_text(errors='replace')}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not start in {timeout}s:\n{log_path.read_text()[-3000:]}")


class _Process:
    """One provider process with its log file in `workdir`."""

    def __init__(self, workdir: Path, name: str) -> None:
        self.workdir = workdir
        self.name = name
        self.port = 0
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    def run(self, args: list[str], config: dict[str, Any]) -> None:
        self.port = config["port"]
        config_path = self.workdir / f"{self.name}.json"
        config_path.write_text(json.dumps(config, indent=2))
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [*args, str(config_path)], cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )
        _wait_until_serving(self.process, f"http://127.0.0.1:{self.port}/_calls", self.log_path)

    def calls(self) -> list[dict[str, Any]]:
        response = requests.get(f"http://127.0.0.1:{self.port}/_calls", timeout=10)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        stop_process(self.process, self._log)
        self.process = self._log = None


# --- panva's oidc-provider (npm) -------------------------------------------------------------


def node_op_version() -> str:
    package = NODE_OP_DIR / "node_modules" / "oidc-provider" / "package.json"
    if not package.exists():
        raise RuntimeError(
            "oidc-provider is not installed: run "
            "`npm ci --prefix tests/support/node_op --no-audit --no-fund` (make test does)."
        )
    return json.loads(package.read_text())["version"]


@dataclass
class NodeOPOptions:
    """One configuration of oidc-provider: what shape of provider the BFF meets."""

    rotate_refresh_token: bool = True
    # JWT access tokens for one API (RFC 8707 resource indicator), refused at UserInfo.
    api_resource: str | None = None
    # More APIs (RFC 8707), each an upstream's own audience: granted at sign-in, a token
    # for one only when a token request names it (JWT access tokens).
    audience_resources: tuple[str, ...] = ()
    # False: name and email only from UserInfo, never in the ID token.
    id_token_profile_claims: bool = True
    token_endpoint_auth_method: str = "client_secret_basic"
    # What discovery advertises (token_endpoint_auth_methods_supported); None: the default.
    client_auth_methods: list[str] | None = None
    revocation: bool = True
    rp_initiated_logout: bool = True
    backchannel_logout: bool = False
    access_token_ttl: int = 900
    # The client authenticates with private_key_jwt (RFC 7523); the provider fetches its
    # public key from the BFF's /auth/jwks.json. It may also use client credentials.
    private_key_jwt: bool = False
    # Pushed authorization requests required (RFC 9126): a plain authorize URL is refused.
    par_required: bool = False
    # Keep grants in a file, so the provider can be restarted (a signing-key rotation).
    persistent: bool = False
    # Two authentication levels (acrValues), weakest first; asking for the last one in
    # acr_values prompts the login again with a one-time code (STEP_UP_CODE).
    step_up_acr_values: tuple[str, ...] = ()


class NodeOP:
    """panva's oidc-provider in a `node` process, its issuer http://localhost:<proxy>/op."""

    def __init__(self, workdir: Path, bff_url: str, options: NodeOPOptions) -> None:
        self.implementation = f"oidc-provider {node_op_version()} (npm)"
        self.options = options
        self.workdir = workdir
        self.bff_url = bff_url
        self.client_id = "bff-" + secrets.token_hex(4)
        self.client_secret = secrets.token_urlsafe(32)
        self.account = ACCOUNT
        self.cookie_keys = [secrets.token_urlsafe(32)]
        # The one-time code of the step-up (the person's authenticator, known to the test).
        self.step_up_code = f"{secrets.randbelow(10**6):06d}"
        self.keys = [signing_key("key-1")]
        # The BFF's private key for private_key_jwt (its public half is served by the BFF).
        self.client_private_jwk = signing_key("bff-client-1") if options.private_key_jwt else None
        if options.private_key_jwt:
            self.client_secret = ""
        self.proxy = ProviderProxy()
        self.issuer = f"{self.proxy.url}/op"
        self._process = _Process(workdir, "oidc-provider")

    def start(self) -> NodeOP:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node (Node.js 20+) is not on PATH")
        self._process.run([node, str(NODE_OP_DIR / "server.mjs")], self._config())
        self.proxy.target = f"http://127.0.0.1:{self._process.port}"
        return self

    def restart_with_keys(self, keys: list[dict[str, Any]]) -> None:
        """Stop the provider and start it again signing with `keys` (grants are kept)."""
        if not self.options.persistent:
            raise RuntimeError("a restart keeps grants only with NodeOPOptions(persistent=True)")
        self._process.stop()
        self.keys = keys
        self.start()

    def _config(self) -> dict[str, Any]:
        options = self.options
        client: dict[str, Any] = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": [f"{self.bff_url}/auth/callback/oidc"],
            "post_logout_redirect_uris": [f"{self.bff_url}/auth/signed-out"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": options.token_endpoint_auth_method,
        }
        if options.private_key_jwt:
            del client["client_secret"]  # no secret: only the key can authenticate it
            client["token_endpoint_auth_method"] = "private_key_jwt"
            client["jwks_uri"] = f"{self.bff_url}/auth/jwks.json"
            client["grant_types"].append("client_credentials")
        if options.backchannel_logout:
            client["backchannel_logout_uri"] = f"{self.bff_url}/auth/backchannel-logout/oidc"
            client["backchannel_logout_session_required"] = True
        config: dict[str, Any] = {
            "port": free_port(),
            "issuer": self.issuer,
            "clients": [client],
            "jwks": {"keys": self.keys},
            "account": asdict(self.account),
            "cookie_keys": self.cookie_keys,
            "features": {
                "revocation": options.revocation,
                "rp_initiated_logout": options.rp_initiated_logout,
                "backchannel_logout": options.backchannel_logout,
                "par_required": options.par_required,
                "client_credentials": options.private_key_jwt,
            },
            "rotate_refresh_token": options.rotate_refresh_token,
            "id_token_profile_claims": options.id_token_profile_claims,
            "ttl": {"AccessToken": options.access_token_ttl, "IdToken": 900},
        }
        if options.client_auth_methods is not None:
            config["client_auth_methods"] = options.client_auth_methods
        if options.api_resource:
            config["resource"] = {
                "indicator": options.api_resource,
                "scope": "api:read",
                "format": "jwt",
                "ttl": options.access_token_ttl,
            }
        if options.step_up_acr_values:
            config["step_up"] = {
                "acr_values": list(options.step_up_acr_values),
                "code": self.step_up_code,
            }
        if options.audience_resources:
            config["resources"] = [
                {"indicator": indicator, "scope": "api:read", "format": "jwt"}
                for indicator in options.audience_resources
            ]
        if options.persistent:
            config["store_path"] = str(self.workdir / "oidc-provider-store.json")
        return config

    def sign_in(self, browser: requests.Session, authorize_url: str) -> requests.Response:
        """The login form (email, password), then the consent form, like a person."""
        origin = _origin(authorize_url)
        response = browser.get(authorize_url, allow_redirects=False)
        for _ in range(MAX_PAGES):
            if response.is_redirect:
                target = urljoin(response.url, response.headers["Location"])
                if _origin(target) != origin:
                    return response
                response = browser.get(target, allow_redirects=False)
            elif 'name="password"' in response.text:
                action, fields = find_form(response, "password")
                fields.update(email=self.account.email, password=self.account.password)
                if "code" in fields:  # the step-up's one-time code
                    fields["code"] = self.step_up_code
                response = browser.post(action, data=fields, allow_redirects=False)
            elif 'name="consent"' in response.text:
                action, fields = find_form(response, "consent")
                response = browser.post(action, data=fields, allow_redirects=False)
            else:
                break
        raise AssertionError(
            f"{self.implementation}: sign-in did not return to the client "
            f"({response.status_code} {response.url}):\n{response.text[:2000]}"
        )

    def end_session(self, browser: requests.Session, end_session_url: str) -> requests.Response:
        """The library's logout confirmation page: "Sign out"."""
        page = browser.get(end_session_url)
        action, fields = find_form(page, "xsrf")
        response = browser.post(action, data={**fields, "logout": "yes"}, allow_redirects=False)
        assert response.is_redirect, f"{self.implementation}: {response.status_code}"
        return response

    def log_out_at_provider(self, browser: requests.Session) -> requests.Response:
        """The person signs out at the provider's end-session page (not through the BFF)."""
        end_session = discovery(self)["end_session_endpoint"]
        return self.end_session(browser, f"{end_session}?client_id={self.client_id}")

    def calls(self) -> list[dict[str, Any]]:
        return self._process.calls()

    def read_log(self) -> str:
        return self._process.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self._process.stop()
        self.proxy.stop()


# --- oidc-provider-mock (PyPI) ---------------------------------------------------------------


class MockOP:
    """oidc-provider-mock in its own Python process; its issuer is http://localhost:<proxy>.

    Clients must register (RFC 7591 dynamic registration); the BFF's client is registered
    with its redirect URI and client_secret_basic.
    """

    def __init__(
        self,
        workdir: Path,
        bff_url: str,
        *,
        token_max_age: int = 900,
        extra_claims: dict[str, Any] | None = None,
    ) -> None:
        self.implementation = f"oidc-provider-mock {version('oidc-provider-mock')} (PyPI)"
        # More claims of the person (e.g. groups); the mock puts them in the ID token.
        self.extra_claims = extra_claims or {}
        self.workdir = workdir
        self.bff_url = bff_url
        self.token_max_age = token_max_age
        self.account = ACCOUNT
        self.proxy = ProviderProxy()
        # The mock names itself after the Host header, which the proxy passes on.
        self.issuer = self.proxy.url
        self.client_id = self.client_secret = ""
        self._process = _Process(workdir, "oidc-provider-mock")

    def start(self) -> MockOP:
        config = {
            "port": free_port(),
            "require_registration": True,
            "issue_refresh_token": True,
            "token_max_age": self.token_max_age,
            "users": [
                {
                    "sub": self.account.sub,
                    "email": self.account.email,
                    "email_verified": True,
                    "name": self.account.name,
                    **self.extra_claims,
                }
            ],
        }
        self._process.run([sys.executable, "-m", "tests.support.mock_op"], config)
        self.proxy.target = f"http://127.0.0.1:{self._process.port}"
        registered = requests.post(
            discovery(self)["registration_endpoint"],
            json={
                "redirect_uris": [f"{self.bff_url}/auth/callback/oidc"],
                "token_endpoint_auth_method": "client_secret_basic",
            },
            timeout=10,
        )
        registered.raise_for_status()
        self.client_id = registered.json()["client_id"]
        self.client_secret = registered.json()["client_secret"]
        return self

    def sign_in(self, browser: requests.Session, authorize_url: str) -> requests.Response:
        """The mock's authorization form: choose the predefined person."""
        page = browser.get(authorize_url, allow_redirects=False)
        assert page.status_code == 200, f"{self.implementation}: {page.status_code} {page.text}"
        assert f'value="{self.account.sub}"' in page.text, page.text[:2000]
        # The form posts back to the page's own URL (no action attribute).
        response = browser.post(page.url, data={"sub": self.account.sub}, allow_redirects=False)
        assert response.is_redirect, f"{self.implementation}: {response.status_code}"
        return response

    def end_session(self, browser: requests.Session, end_session_url: str) -> requests.Response:
        """The mock's "End session" page (it keeps no provider session to end)."""
        page = browser.get(end_session_url)
        assert page.status_code == 200, f"{self.implementation}: {page.status_code}"
        action, fields = find_form(page, "redirect_uri")
        response = browser.post(action, data=fields, allow_redirects=False)
        assert response.is_redirect, f"{self.implementation}: {response.status_code}"
        return response

    def calls(self) -> list[dict[str, Any]]:
        return self._process.calls()

    def read_log(self) -> str:
        return self._process.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self._process.stop()
        self.proxy.stop()
