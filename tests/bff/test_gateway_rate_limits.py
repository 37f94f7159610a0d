"""Rate limits per upstream over real HTTP: the live BFF on the test cache (LocMem, or Redis
in the scale-out run), and two gunicorn BFF instances sharing one Redis database, which
must count one budget between them. A refused call never reaches the upstream."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bff.rate_limits import spend
from bff.stores import cache_store
from tests.conftest import sign_in
from tests.support.bff import REDIS_URL
from tests.support.echo_upstream import EchoUpstream
from tests.support.servers import Server, free_port

pytestmark = pytest.mark.django_db(transaction=True)


# Budgets count calls in fixed windows: an hour, and a test never starts in its last seconds,
# so its calls all fall in one window.
WINDOW = 3600


@pytest.fixture(autouse=True)
def one_window() -> None:
    left = WINDOW - time.time() % WINDOW
    if left < 15:
        time.sleep(left)


def unique(name: str) -> str:
    """Budgets are counted per upstream name in a cache that outlives a test: one name each."""
    return f"{name}{secrets.token_hex(4)}"


def signed_in(wired, browser: requests.Session) -> requests.Session:
    sign_in(browser, wired.bff)
    browser.headers.update({"X-CSRF": "1", "Origin": wired.bff})
    return browser


def assert_rate_limited(response: requests.Response, window: int) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == "rate_limited"
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= window
    assert body["retry_after"] == wait


@pytest.fixture
def echo(echo_server) -> EchoUpstream:
    echo_server.reset()
    return echo_server


def test_a_session_spends_its_own_budget(echo, wired, settings):
    name = unique("echo")
    settings.BFF_UPSTREAMS = {name: f"{echo.url}/base"}
    settings.BFF_RATE_LIMITS = {"session": "3/3600"}
    first = signed_in(wired, requests.Session())
    answers = [first.get(f"{wired.bff}/api/{name}/x").status_code for _ in range(3)]
    assert answers == [200, 200, 200]
    assert_rate_limited(first.post(f"{wired.bff}/api/{name}/x", json={}), WINDOW)
    assert len(echo.seen) == 3
    # Another session has a budget of its own.
    second = signed_in(wired, requests.Session())
    assert second.get(f"{wired.bff}/api/{name}/x").status_code == 200
    assert len(echo.seen) == 4


def test_anonymous_calls_spend_their_addresses_budget(echo, wired, settings):
    name = unique("public")
    settings.BFF_UPSTREAMS = {name: {"url": f"{echo.url}/base", "token": "none"}}
    settings.BFF_RATE_LIMITS = {"anonymous": [2, WINDOW]}
    visitor = requests.Session()
    visitor.headers.update({"X-CSRF": "1"})
    assert [visitor.get(f"{wired.bff}/api/{name}/x").status_code for _ in range(2)] == [200, 200]
    assert_rate_limited(visitor.get(f"{wired.bff}/api/{name}/x"), WINDOW)
    # A signed-in caller is counted by session, which has no budget here.
    user = signed_in(wired, requests.Session())
    assert [user.get(f"{wired.bff}/api/{name}/x").status_code for _ in range(3)] == [200] * 3
    assert len(echo.seen) == 5


def test_an_upstreams_budget_is_shared_by_everyone(echo, wired, settings):
    name = unique("echo")
    settings.BFF_UPSTREAMS = {
        name: {"url": f"{echo.url}/base", "rate_limits": {"upstream": "3/3600"}}
    }
    first = signed_in(wired, requests.Session())
    second = signed_in(wired, requests.Session())
    assert first.get(f"{wired.bff}/api/{name}/x").status_code == 200
    assert first.get(f"{wired.bff}/api/{name}/x").status_code == 200
    assert second.get(f"{wired.bff}/api/{name}/x").status_code == 200
    assert_rate_limited(second.get(f"{wired.bff}/api/{name}/x"), WINDOW)
    assert_rate_limited(first.get(f"{wired.bff}/api/{name}/x"), WINDOW)
    assert len(echo.seen) == 3


def test_an_upstream_overrides_the_default_budgets(echo, wired, settings):
    free, strict, named = unique("free"), unique("strict"), unique("named")
    settings.BFF_UPSTREAMS = {
        free: {"url": f"{echo.url}/base", "rate_limits": {"session": "off"}},
        strict: f"{echo.url}/base",
        named: f"{echo.url}/base",
    }
    settings.BFF_RATE_LIMITS = {"session": "1/3600", f"{named}.session": "2/3600"}
    user = signed_in(wired, requests.Session())
    assert [user.get(f"{wired.bff}/api/{free}/x").status_code for _ in range(3)] == [200] * 3
    assert [user.get(f"{wired.bff}/api/{strict}/x").status_code for _ in range(2)] == [200, 429]
    assert [user.get(f"{wired.bff}/api/{named}/x").status_code for _ in range(3)] == [200, 200, 429]


def test_limits_are_off_by_default(echo, wired, settings):
    name = unique("echo")
    settings.BFF_UPSTREAMS = {name: f"{echo.url}/base"}
    user = signed_in(wired, requests.Session())
    assert {user.get(f"{wired.bff}/api/{name}/x").status_code for _ in range(30)} == {200}


def test_a_cache_that_is_down_lets_calls_through(echo, wired, settings):
    name = unique("echo")
    settings.BFF_UPSTREAMS = {name: {"url": f"{echo.url}/base", "token": "none"}}
    settings.BFF_RATE_LIMITS = {"anonymous": "1/3600"}
    settings.BFF_STORE_RETRY_SECONDS = 0  # the next test finds the cache as it was
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        }
    }
    visitor = requests.Session()
    visitor.headers.update({"X-CSRF": "1"})
    assert [visitor.get(f"{wired.bff}/api/{name}/x").status_code for _ in range(3)] == [200] * 3
    assert len(echo.seen) == 3


# --- Two BFF instances on one Redis --------------------------------------------------------------

SETTINGS = """
from tests.settings import *  # noqa: F403

BFF_UPSTREAMS = {{
    "{name}": {{"url": "{echo}/base", "token": "none", "rate_limits": {{"upstream": "5/3600"}}}},
}}
# The test is the proxy in front: its X-Forwarded-For names the client.
BFF_TRUSTED_PROXIES = ["127.0.0.1"]
"""


@pytest.fixture(scope="module")
def shared_echo() -> Iterator[EchoUpstream]:
    server = EchoUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def two_bffs(shared_echo, tmp_path_factory) -> Iterator[tuple[str, list[str]]]:
    """Two gunicorn BFFs with one Redis cache; the upstream's budget is 5 calls a minute
    (BFF_UPSTREAMS), a client address's 3 (BFF_RATE_LIMITS from the environment)."""
    name = unique("shared")
    workdir: Path = tmp_path_factory.mktemp("rate-limited-bffs")
    (workdir / "rate_limit_settings.py").write_text(
        SETTINGS.format(name=name, echo=shared_echo.url)
    )
    servers = [
        Server(
            name=f"bff-{index}",
            settings_module="config.settings",
            workdir=workdir,
            threads=4,
            ready_path="/healthz",
            env={
                "DJANGO_SETTINGS_MODULE": "rate_limit_settings",
                "PYTHONPATH": str(workdir),
                "DATABASE_URL": f"sqlite:///{workdir / 'unused.sqlite3'}",
                "CACHE_URL": REDIS_URL,
                "BFF_RATE_LIMITS": f"{name}.anonymous=3/3600",
            },
        )
        for index in range(2)
    ]
    try:
        yield name, [server.start().url for server in servers]
    finally:
        for server in servers:
            server.stop()


def test_instances_sharing_redis_share_the_budgets(two_bffs, shared_echo):
    name, (one, two) = two_bffs
    shared_echo.reset()

    def call(url: str, client: str) -> requests.Response:
        return requests.get(
            f"{url}/api/{name}/x", headers={"X-CSRF": "1", "X-Forwarded-For": client}
        )

    # One client address: three calls between the two instances, then 429 on either.
    assert [call(url, "192.0.2.1").status_code for url in (one, two, one)] == [200, 200, 200]
    assert_rate_limited(call(two, "192.0.2.1"), WINDOW)
    assert_rate_limited(call(one, "192.0.2.1"), WINDOW)
    # Another address has its own budget, but the upstream's (5) is spent after two more.
    assert [call(url, "192.0.2.2").status_code for url in (two, one)] == [200, 200]
    assert_rate_limited(call(two, "192.0.2.2"), WINDOW)
    assert_rate_limited(call(one, "192.0.2.3"), WINDOW)
    assert len(shared_echo.seen) == 5
    assert {seen["headers"]["x-forwarded-for"] for seen in shared_echo.seen} == {
        "192.0.2.1",
        "192.0.2.2",
    }


# --- Counting ------------------------------------------------------------------------------------


def test_spend_counts_a_window_and_says_how_long_to_wait():
    key = unique("bff:test:spend:")
    assert [spend(key, 2, WINDOW) for _ in range(2)] == [None, None]
    wait = spend(key, 2, WINDOW)
    assert wait is not None and 1 <= wait <= WINDOW


def test_spend_counts_again_once_the_cache_is_back(settings):
    settings.BFF_STORE_RETRY_SECONDS = 0
    cache_store.failed("test", ConnectionError("Redis went away"))
    assert cache_store.down
    key = unique("bff:test:back:")
    # The window's first call finds no key: that is an answer, so the store is up again.
    assert spend(key, 1, WINDOW) is None
    assert not cache_store.down
    assert spend(key, 1, WINDOW) is not None
