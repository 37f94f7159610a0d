"""Which bearer an upstream gets, by its token kind: user, client, user_or_client,
user_or_none, none. The provider is the hostile test provider (it grants client credentials)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from bff import bearer
from bff.models import TokenSession
from oidc.provider import reset_providers
from tests.support.echo_upstream import EchoUpstream
from tests.support.hostile_provider import HostileProvider

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def provider() -> Iterator[HostileProvider]:
    server = HostileProvider().start()
    yield server
    server.stop()


@pytest.fixture
def kinds(settings, provider, echo_server, live_server) -> EchoUpstream:
    provider.reset()
    echo_server.reset()
    bearer._client_tokens.clear()
    settings.OIDC_PROVIDERS = {
        "hostile": {
            "issuer": provider.issuer,
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,
        }
    }
    base = f"{echo_server.url}/base"
    settings.BFF_UPSTREAMS = {
        kind: {"url": base, "token": kind}
        for kind in ("user", "client", "user_or_client", "user_or_none", "none")
    }
    reset_providers()
    return echo_server


def call(browser: requests.Session, bff: str, kind: str) -> requests.Response:
    return browser.get(f"{bff}/api/{kind}/x", headers={"X-CSRF": "1"})


def sent_bearer(echo: EchoUpstream) -> str | None:
    return echo.seen[-1]["headers"].get("authorization")


def sign_in_hostile(browser: requests.Session, bff: str) -> None:
    start = browser.get(f"{bff}/auth/login?next=/", allow_redirects=False)
    back = browser.get(start.headers["Location"], allow_redirects=False)
    assert browser.get(back.headers["Location"], allow_redirects=False).status_code == 302


def client_grants(provider: HostileProvider) -> int:
    return sum(
        1 for r in provider.token_requests if r["form"].get("grant_type") == "client_credentials"
    )


def test_anonymous_calls_by_kind(kinds, provider, live_server):
    anonymous = requests.Session()
    bff = live_server.url
    assert call(anonymous, bff, "user").status_code == 401
    assert call(anonymous, bff, "none").status_code == 200
    assert sent_bearer(kinds) is None
    assert call(anonymous, bff, "user_or_none").status_code == 200
    assert sent_bearer(kinds) is None
    assert call(anonymous, bff, "client").status_code == 200
    client_token = sent_bearer(kinds)
    assert client_token.startswith("Bearer cc-")
    assert call(anonymous, bff, "user_or_client").status_code == 200
    assert sent_bearer(kinds) == client_token
    # The client token is cached until near its expiry: one grant for all of these.
    assert client_grants(provider) == 1


def test_signed_in_calls_by_kind(kinds, provider, live_server):
    browser = requests.Session()
    bff = live_server.url
    sign_in_hostile(browser, bff)
    user_token = f"Bearer {TokenSession.objects.live().get().tokens.access_token}"
    for kind in ("user", "user_or_client", "user_or_none"):
        assert call(browser, bff, kind).status_code == 200
        assert sent_bearer(kinds) == user_token
    assert call(browser, bff, "client").status_code == 200
    assert sent_bearer(kinds).startswith("Bearer cc-")
    assert call(browser, bff, "none").status_code == 200
    assert sent_bearer(kinds) is None
