"""Fixtures of the demo API's tests: a fake issuer and a real demo server trusting it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.demo.issuer import FakeIssuer, ec_key
from tests.support.demo import start_demo
from tests.support.servers import Server


@pytest.fixture(scope="session")
def issuer() -> Iterator[FakeIssuer]:
    """The shared fake provider: RSA k1 (alg RS256), RSA k-noalg (no alg), EC k-ec (ES256)."""
    fake = FakeIssuer().start()
    fake.add_key("k1")
    fake.add_key("k-noalg", alg=None)
    fake.add_key("k-ec", ec_key(), alg="ES256")
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def demo(issuer: FakeIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The shared demo server, trusting `issuer`."""
    server = start_demo(tmp_path_factory.mktemp("demo"), issuer=issuer.issuer)
    yield server
    server.stop()


@pytest.fixture
def demo_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., Server]]:
    """Start extra demo servers (e.g. with a short JWKS re-fetch interval); all stop at the end."""
    servers: list[Server] = []

    def start(issuer_url: str, **env: str) -> Server:
        server = start_demo(tmp_path_factory.mktemp("demo"), issuer=issuer_url, env=env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
