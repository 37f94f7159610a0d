"""Shared fixtures: the built-in provider and the demo API as real servers, the BFF as
pytest-django's live server wired to them, and a `requests` browser that signs in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
import requests

from oidc.provider import reset_providers
from tests.bff.live_fixtures import bff_asgi, live_demo, live_upstream  # noqa: F401 - fixtures
from tests.support.demo import start_demo
from tests.support.idp import provider_sign_in, start_idp
from tests.support.servers import Server

# The demo API's billing endpoint takes only tokens minted for it (docs/gateway.md).
DEMO_BILLING_RESOURCE = "https://billing.demo.test/"
USER_EMAIL = "alice@example.com"
USER_PASSWORD = "correct horse battery staple"
CLIENT_ID = "bff-test"
CLIENT_SECRET = "bff-test-secret"


def issuer_of(idp: Server) -> str:
    return f"{idp.url}/o"


@pytest.fixture(scope="session")
def idp(live_server, tmp_path_factory) -> Iterator[Server]:
    """The built-in provider, with a client registered for the live BFF."""
    server = start_idp(
        tmp_path_factory.mktemp("idp"),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[f"{live_server.url}/auth/callback/oidc"],
        post_logout_redirect_uris=[f"{live_server.url}/auth/signed-out"],
        user_email=USER_EMAIL,
        user_password=USER_PASSWORD,
        env={"IDP_RESOURCE_INDICATORS": DEMO_BILLING_RESOURCE},
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def demo_api(idp, tmp_path_factory) -> Iterator[Server]:
    server = start_demo(
        tmp_path_factory.mktemp("demo"),
        issuer=issuer_of(idp),
        env={"DEMO_BILLING_AUDIENCE": DEMO_BILLING_RESOURCE},
    )
    yield server
    server.stop()


@dataclass
class Wiring:
    bff: str
    idp: Server
    demo: Server

    @property
    def issuer(self) -> str:
        return issuer_of(self.idp)


@pytest.fixture
def wired(settings, idp, demo_api, live_server) -> Iterator[Wiring]:
    """The live BFF configured for the test provider and demo API."""
    settings.OIDC_PROVIDERS = {
        "oidc": {"issuer": issuer_of(idp), "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    }
    settings.BFF_UPSTREAMS = {"graphql": f"{demo_api.url}/graphql", "demo": f"{demo_api.url}/rest"}
    reset_providers()
    yield Wiring(bff=live_server.url, idp=idp, demo=demo_api)
    reset_providers()


def sign_in(
    browser: requests.Session,
    bff_url: str,
    *,
    email: str = USER_EMAIL,
    password: str = USER_PASSWORD,
    next_path: str = "/",
) -> requests.Response:
    """Sign in through the provider's pages; returns the BFF callback's response (a redirect)."""
    # again=1: a sign-in asked for on purpose, as from the page that says why a session ended.
    start = browser.get(
        f"{bff_url}/auth/login?{urlencode({'next': next_path, 'again': '1'})}",
        allow_redirects=False,
    )
    assert start.status_code == 302, start.text
    to_callback = provider_sign_in(browser, start.headers["Location"], email, password)
    return browser.get(to_callback.headers["Location"], allow_redirects=False)


@pytest.fixture
def browser() -> Iterator[requests.Session]:
    session = requests.Session()
    yield session
    session.close()
