"""Real provider servers for the provider's tests: one default, others with changed settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.idp.flow import POST_LOGOUT_REDIRECT_URI, REDIRECT_URI, Client
from tests.support.idp import start_idp
from tests.support.servers import Server


def _provider(tmp_path_factory: pytest.TempPathFactory, name: str, **env: str) -> Iterator[Server]:
    server = start_idp(
        tmp_path_factory.mktemp(name),
        redirect_uris=[REDIRECT_URI],
        post_logout_redirect_uris=[POST_LOGOUT_REDIRECT_URI],
        env=env,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A provider with the default settings (30 s refresh grace period)."""
    yield from _provider(tmp_path_factory, "idp")


@pytest.fixture(scope="session")
def idp_grace2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A provider whose refresh grace period is 2 seconds."""
    yield from _provider(tmp_path_factory, "idp-grace2", IDP_REFRESH_GRACE_SECONDS="2")


@pytest.fixture(scope="session")
def idp_grace0(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A provider without a refresh grace period, and with 3-second refresh tokens.

    Access tokens outlive refresh tokens here on purpose: the refresh token's own lifetime,
    counted from its rotation, is then the only thing that can expire it.
    """
    yield from _provider(
        tmp_path_factory,
        "idp-grace0",
        IDP_REFRESH_GRACE_SECONDS="0",
        IDP_REFRESH_TOKEN_SECONDS="3",
        IDP_ACCESS_TOKEN_SECONDS="60",
    )


@pytest.fixture(scope="session")
def idp_account_throttle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A provider that throttles an account after 3 failed sign-ins (per IP: practically never)."""
    yield from _provider(
        tmp_path_factory,
        "idp-account-throttle",
        IDP_SIGNIN_MAX_FAILURES_PER_ACCOUNT="3",
        IDP_SIGNIN_MAX_FAILURES_PER_IP="1000",
    )


@pytest.fixture(scope="session")
def idp_ip_throttle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A provider that throttles a client IP after 4 failed sign-ins, whichever the accounts."""
    yield from _provider(
        tmp_path_factory,
        "idp-ip-throttle",
        IDP_SIGNIN_MAX_FAILURES_PER_ACCOUNT="1000",
        IDP_SIGNIN_MAX_FAILURES_PER_IP="4",
    )


@pytest.fixture(scope="session")
def idp_short_throttle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A provider that throttles an account after 2 failed sign-ins, for 3 seconds."""
    yield from _provider(
        tmp_path_factory,
        "idp-short-throttle",
        IDP_SIGNIN_MAX_FAILURES_PER_ACCOUNT="2",
        IDP_SIGNIN_FAILURE_WINDOW_SECONDS="3",
    )


@pytest.fixture(scope="session")
def client(idp: Server) -> Client:
    """The test client of the default provider; its browser stays signed in between tests."""
    return Client(idp)


@pytest.fixture
def fresh_client(idp: Server) -> Client:
    """The test client of the default provider with a browser that has no provider session."""
    return Client(idp)
