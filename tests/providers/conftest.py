"""The provider matrix's fixtures: each third-party provider configuration started once per
module behind its own counting proxy, an echo upstream, and the live BFF wired per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from bff.models import TokenSession
from oidc.provider import reset_providers
from tests.providers.ops import MockOP, NodeOP, NodeOPOptions, RunningOP
from tests.support.echo_upstream import EchoUpstream

API_RESOURCE = "https://api.example.test/"
# Not the BFF's 1-hour fallback, so a lifetime read from `expires_in` is told apart.
ACCESS_TOKEN_TTL = 600


def _serve(op: NodeOP | MockOP) -> Iterator[Any]:
    try:
        yield op.start()
    finally:
        op.stop()


def _node(tmp_path_factory, live_server, name: str, **options: Any) -> Iterator[NodeOP]:
    workdir: Path = tmp_path_factory.mktemp(name)
    yield from _serve(NodeOP(workdir, live_server.url, NodeOPOptions(**options)))


@pytest.fixture(scope="module")
def npm_rotating(tmp_path_factory, live_server) -> Iterator[NodeOP]:
    """oidc-provider: opaque access tokens, rotating refresh tokens (a reused one revokes
    the grant), a new ID token on each refresh, revocation, RP-initiated and back-channel
    logout, `iss` in the authorization response."""
    yield from _node(
        tmp_path_factory,
        live_server,
        "npm-rotating",
        backchannel_logout=True,
        access_token_ttl=ACCESS_TOKEN_TTL,
    )


@pytest.fixture(scope="module")
def npm_fixed(tmp_path_factory, live_server) -> Iterator[NodeOP]:
    """oidc-provider without rotation: a refresh answers with the same refresh token."""
    yield from _node(tmp_path_factory, live_server, "npm-fixed", rotate_refresh_token=False)


@pytest.fixture(scope="module")
def npm_api(tmp_path_factory, live_server) -> Iterator[NodeOP]:
    """oidc-provider issuing JWT access tokens for one API (RFC 8707), which UserInfo
    refuses; the ID token carries no name or email."""
    yield from _node(
        tmp_path_factory,
        live_server,
        "npm-api",
        api_resource=API_RESOURCE,
        id_token_profile_claims=False,
    )


@pytest.fixture(scope="module")
def npm_post_only(tmp_path_factory, live_server) -> Iterator[NodeOP]:
    """oidc-provider whose client authenticates with client_secret_post only, without a
    revocation or an end-session endpoint."""
    yield from _node(
        tmp_path_factory,
        live_server,
        "npm-post-only",
        token_endpoint_auth_method="client_secret_post",
        client_auth_methods=["client_secret_post"],
        revocation=False,
        rp_initiated_logout=False,
    )


@pytest.fixture(scope="module")
def npm_restartable(tmp_path_factory, live_server) -> Iterator[NodeOP]:
    """oidc-provider keeping its grants in a file, so it can restart with a new signing key."""
    yield from _node(tmp_path_factory, live_server, "npm-restartable", persistent=True)


@pytest.fixture(scope="module")
def npm_strict(tmp_path_factory, live_server) -> Iterator[NodeOP]:
    """oidc-provider whose client has no secret: it authenticates with private_key_jwt only
    (RFC 7523; the public key fetched from the BFF's /auth/jwks.json), and which requires
    pushed authorization requests (RFC 9126) for every sign-in."""
    yield from _node(
        tmp_path_factory, live_server, "npm-strict", private_key_jwt=True, par_required=True
    )


@pytest.fixture(scope="module")
def mock_op(tmp_path_factory, live_server) -> Iterator[MockOP]:
    """oidc-provider-mock: opaque access tokens, the same refresh token for ever (a refresh
    answers without one), no ID token on refresh, no revocation endpoint."""
    op = MockOP(tmp_path_factory.mktemp("mock"), live_server.url, token_max_age=ACCESS_TOKEN_TTL)
    yield from _serve(op)


@pytest.fixture(scope="module")
def echo_server() -> Iterator[EchoUpstream]:
    server = EchoUpstream().start()
    yield server
    server.stop()


def provider_settings(op: RunningOP, **overrides: Any) -> dict[str, Any]:
    """The BFF's provider entry for `op`; `overrides` replace keys."""
    return {
        "issuer": op.issuer,
        "client_id": op.client_id,
        "client_secret": op.client_secret,
        "scopes": ["openid", "profile", "email", "offline_access"],
        # OpenID Connect Core 11: offline_access is honoured with prompt=consent;
        # oidc-provider drops it (and issues no refresh token) otherwise.
        "auth_params": {"prompt": "consent"} if isinstance(op, NodeOP) else {},
        "userinfo": "auto",
        "client_auth_method": "",
        **overrides,
    }


@pytest.fixture
def connect(settings, live_server, echo_server) -> Iterator[Callable[..., str]]:
    """Wire the live BFF to one provider (and the echo upstream); returns the BFF's URL."""

    def wire(op: RunningOP, **overrides: Any) -> str:
        settings.OIDC_PROVIDERS = {"oidc": provider_settings(op, **overrides)}
        settings.BFF_UPSTREAMS = {"echo": {"url": f"{echo_server.url}/base", "token": "user"}}
        reset_providers()
        op.proxy.reset()
        echo_server.reset()
        return live_server.url

    yield wire
    reset_providers()


@dataclass
class Walk:
    """One browser signed in at the live BFF through one provider."""

    op: RunningOP
    bff: str
    browser: requests.Session
    echo: EchoUpstream
    callback_url: str = ""
    calls_before: int = 0

    @property
    def record(self) -> TokenSession:
        return TokenSession.objects.live().get()

    def calls(self, **match: Any) -> list[dict[str, Any]]:
        """What reached the provider during this walk, where every `match` item matches."""
        calls = self.op.calls()[self.calls_before :]
        return [c for c in calls if all(c.get(k) == v for k, v in match.items())]


@pytest.fixture
def walk(connect, browser, echo_server) -> Callable[..., Walk]:
    """A Walk for an OP, the BFF wired to it with `overrides` of its provider settings."""

    def make(op: RunningOP, **overrides: Any) -> Walk:
        bff = connect(op, **overrides)
        return Walk(op, bff, browser, echo_server, calls_before=len(op.calls()))

    return make


@pytest.fixture
def browser() -> Iterator[requests.Session]:
    session = requests.Session()
    session.headers["User-Agent"] = "Mozilla/5.0 (provider matrix)"
    yield session
    session.close()
