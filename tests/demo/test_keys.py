"""Signing keys: fetched once per process, re-fetched on rotation (rate-limited), 503 when down."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.demo.client import bearer, graphql
from tests.demo.issuer import FakeIssuer
from tests.support.servers import Server, free_port

INTERVAL = 1.0


@pytest.fixture
def fresh_issuer() -> Iterator[FakeIssuer]:
    """A provider of this test's own, with key k1 published."""
    fake = FakeIssuer().start()
    fake.add_key("k1")
    yield fake
    fake.stop()


def status(server: Server, token: str) -> int:
    return requests.get(f"{server.url}/rest/items", headers=bearer(token), timeout=10).status_code


def test_keys_are_fetched_once_however_many_requests(
    fresh_issuer: FakeIssuer, demo_factory: Callable[..., Server]
) -> None:
    demo = demo_factory(fresh_issuer.issuer)
    token = fresh_issuer.mint()
    assert fresh_issuer.fetches("jwks") == 0, "keys are fetched lazily"

    # Concurrent first requests share one fetch.
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda _: status(demo, token), range(24)))
    assert statuses == [200] * 24
    for _ in range(10):
        assert status(demo, token) == 200
    assert fresh_issuer.fetches("discovery") == 1
    assert fresh_issuer.fetches("jwks") == 1


def test_key_rotation_and_rate_limited_refetch(
    fresh_issuer: FakeIssuer, demo_factory: Callable[..., Server]
) -> None:
    demo = demo_factory(fresh_issuer.issuer, DEMO_JWKS_REFETCH_INTERVAL=str(INTERVAL))
    assert status(demo, fresh_issuer.mint(kid="k1")) == 200
    assert fresh_issuer.fetches("jwks") == 1

    # The provider rotates: a new key appears beside the old one.
    fresh_issuer.add_key("k2")
    time.sleep(INTERVAL + 0.1)
    assert status(demo, fresh_issuer.mint(kid="k2")) == 200
    assert status(demo, fresh_issuer.mint(kid="k1")) == 200
    assert fresh_issuer.fetches("jwks") == 2
    assert fresh_issuer.fetches("discovery") == 1, "discovery is not fetched again"

    # Unknown kids right after a fetch are refused without asking the provider again.
    fresh_issuer.add_key("k3", publish=False)
    for _ in range(5):
        assert status(demo, fresh_issuer.mint(kid="k3")) == 401
    assert fresh_issuer.fetches("jwks") == 2

    # Once the interval has passed, one more fetch picks up k3 and drops the retired k1.
    fresh_issuer.publish("k3")
    fresh_issuer.unpublish("k1")
    time.sleep(INTERVAL + 0.1)
    assert status(demo, fresh_issuer.mint(kid="k3")) == 200
    assert fresh_issuer.fetches("jwks") == 3
    assert status(demo, fresh_issuer.mint(kid="k1")) == 401
    assert status(demo, fresh_issuer.mint(kid="k2")) == 200


def test_provider_down_is_503_then_recovers(
    fresh_issuer: FakeIssuer, demo_factory: Callable[..., Server]
) -> None:
    fresh_issuer.status = 500
    demo = demo_factory(fresh_issuer.issuer, DEMO_JWKS_REFETCH_INTERVAL=str(INTERVAL))
    token = fresh_issuer.mint()

    rest = requests.get(f"{demo.url}/rest/items", headers=bearer(token), timeout=10)
    gql = graphql(demo, "{ me { sub } }", headers=bearer(token))
    for response in (rest, gql):
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "temporarily_unavailable"
        assert int(response.headers["Retry-After"]) > 0
    # Failed attempts are rate-limited too: the provider is not hammered while it is down.
    assert fresh_issuer.fetches("discovery") == 1
    assert requests.get(f"{demo.url}/healthz", timeout=10).status_code == 200
    # A bad token is still a 401 without asking the provider.
    assert status(demo, "not-a-jwt") == 401

    fresh_issuer.status = None
    time.sleep(INTERVAL + 0.1)
    assert status(demo, token) == 200

    # Once keys are cached, a provider outage does not affect tokens signed with them.
    fresh_issuer.status = 503
    time.sleep(INTERVAL + 0.1)
    assert status(demo, token) == 200
    # A kid it never saw needs the provider: that is a 503, not a 401 or a 500.
    fresh_issuer.add_key("k2", publish=False)
    assert status(demo, fresh_issuer.mint(kid="k2")) == 503


def test_provider_unreachable_is_503(
    fresh_issuer: FakeIssuer, demo_factory: Callable[..., Server]
) -> None:
    # Nothing listens on this port: the connection is refused.
    nowhere = f"http://127.0.0.1:{free_port()}/o"
    demo = demo_factory(nowhere)
    token = fresh_issuer.mint(iss=nowhere)
    response = requests.get(f"{demo.url}/rest/items", headers=bearer(token), timeout=10)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
