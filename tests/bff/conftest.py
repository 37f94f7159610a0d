"""Fixtures for the token lifecycle: a provider behind a counting, fault-injecting proxy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from bff import record_cache
from bff.models import TokenSession
from oidc.provider import reset_providers
from tests.conftest import CLIENT_ID, CLIENT_SECRET, sign_in
from tests.support.echo_upstream import EchoUpstream
from tests.support.idp import start_idp
from tests.support.provider_proxy import ProviderProxy
from tests.support.servers import Server, free_port

# The APIs the test provider mints audience tokens for (tests/bff/test_upstream_audiences.py).
RESOURCES = ("https://billing.example.test/", "https://reports.example.test/")
EXCHANGE_AUDIENCE = "ledger-api"  # and one it mints by token exchange (RFC 8693)


@dataclass
class CountedProvider:
    """A real provider whose refresh grants are counted (and can fail) at `proxy`."""

    idp: Server
    proxy: ProviderProxy
    spare_ports: list[int]

    @property
    def issuer(self) -> str:
        return f"{self.proxy.url}/o"


def start_counted_provider(tmp_path_factory, live_server, grace: int) -> CountedProvider:
    proxy = ProviderProxy()
    spare_ports = [free_port() for _ in range(3)]
    bases = [live_server.url] + [f"http://127.0.0.1:{p}" for p in spare_ports]
    idp = start_idp(
        tmp_path_factory.mktemp("counted-idp"),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[f"{base}/auth/callback/oidc" for base in bases],
        post_logout_redirect_uris=[f"{base}/auth/signed-out" for base in bases],
        env={
            "IDP_ISSUER": f"{proxy.url}/o",
            "IDP_REFRESH_GRACE_SECONDS": str(grace),
            "IDP_REUSE_PROTECTION": "true",
            # Resource indicators (RFC 8707) for the upstreams with an audience.
            "IDP_RESOURCE_INDICATORS": ",".join(RESOURCES),
            "IDP_TOKEN_EXCHANGE_AUDIENCES": EXCHANGE_AUDIENCE,
        },
    )
    proxy.target = f"http://127.0.0.1:{idp.port}"
    return CountedProvider(idp=idp, proxy=proxy, spare_ports=spare_ports)


@pytest.fixture(scope="session")
def strict_provider(tmp_path_factory, live_server) -> Iterator[CountedProvider]:
    """Reuse detection on, grace zero: a second refresh with one token kills the chain."""
    provider = start_counted_provider(tmp_path_factory, live_server, grace=0)
    yield provider
    provider.idp.stop()
    provider.proxy.stop()


@pytest.fixture(scope="session")
def lenient_provider(tmp_path_factory, live_server) -> Iterator[CountedProvider]:
    """The built-in provider's defaults: a rotated token stays usable for 30 s."""
    provider = start_counted_provider(tmp_path_factory, live_server, grace=30)
    yield provider
    provider.idp.stop()
    provider.proxy.stop()


def wire_live_server(settings, provider: CountedProvider) -> None:
    settings.OIDC_PROVIDERS = {
        "oidc": {"issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    }
    reset_providers()
    provider.proxy.reset()


@pytest.fixture
def strict(settings, strict_provider) -> Iterator[CountedProvider]:
    wire_live_server(settings, strict_provider)
    yield strict_provider
    reset_providers()


@pytest.fixture
def lenient(settings, lenient_provider) -> Iterator[CountedProvider]:
    wire_live_server(settings, lenient_provider)
    settings.BFF_REFRESH_BACKOFF_SECONDS = 0.2
    settings.BFF_REFRESH_BACKOFF_MAX_SECONDS = 0.2
    yield lenient_provider
    reset_providers()


@pytest.fixture(scope="module")
def echo_server() -> Iterator[EchoUpstream]:
    """An upstream that echoes what it was sent, one per test module."""
    server = EchoUpstream().start()
    yield server
    server.stop()


def revoke_at_provider(provider: CountedProvider, refresh_token: str) -> None:
    """Revoke a refresh token at the provider behind the BFF's back (RFC 7009)."""
    requests.post(
        f"{provider.issuer}/revoke_token/",
        data={"token": refresh_token, "token_type_hint": "refresh_token"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    ).raise_for_status()


def update_record(pk, **fields) -> None:
    """Change a record in the database directly (a test moving time) and drop its cached copy."""
    TokenSession.objects.filter(pk=pk).update(**fields)
    record_cache.forget(TokenSession.objects.filter(pk=pk).values_list("browser_key", flat=True))


def make_due(remaining: float = 10.0, lifetime: float = 900.0) -> TokenSession:
    """Move the only live record's access token to `remaining` seconds before expiry."""
    now = timezone.now()
    record = TokenSession.objects.live().get()
    update_record(
        record.pk,
        access_issued_at=now - timedelta(seconds=lifetime - remaining),
        access_expires_at=now + timedelta(seconds=remaining),
        refresh_retry_at=None,
        refresh_failures=0,
    )
    return TokenSession.objects.get(pk=record.pk)


@pytest.fixture
def user(wired, browser) -> requests.Session:
    """A signed-in browser whose scripts send X-CSRF: 1 and their Origin."""
    sign_in(browser, wired.bff)
    browser.headers.update({"X-CSRF": "1", "Origin": wired.bff})
    return browser
