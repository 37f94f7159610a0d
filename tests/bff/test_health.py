"""/readyz names the store that failed; /healthz touches nothing and answers at once.

The live server for one broken store at a time; a gunicorn BFF whose database, cache and
lock Redis are all gone or hung for the timing of both.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bff.locks import base as lock_base
from tests.support.metrics import BlackHole, scrape, value
from tests.support.servers import Server, free_port

pytestmark = pytest.mark.django_db(transaction=True)


def redis_cache(port: int, timeout: float = 0.2) -> dict:
    return {
        "default": {
            "BACKEND": "config.redis_cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": timeout, "socket_timeout": timeout},
        }
    }


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


@pytest.fixture
def no_cached_lock() -> Iterator[None]:
    lock_base._instances.clear()
    yield
    lock_base._instances.clear()


@pytest.fixture(autouse=True)
def plain_stores(request, settings) -> None:
    """The live server's tests start from the database alone (also in the scale-out run,
    whose environment configures Redis for both)."""
    if "stranded" not in request.fixturenames:
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
        settings.BFF_LOCK_BACKEND = "bff.locks.database.DatabaseLock"


def readyz(base_url: str) -> requests.Response:
    response = requests.get(f"{base_url}/readyz", timeout=10)
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"].startswith("max-age=0")
    return response


def test_ready_names_each_check(live_server):
    response = readyz(live_server.url)
    assert response.status_code == 200
    assert response.json() == {"ready": True, "checks": {"database": "ok"}, "failed": []}


def test_a_broken_cache_is_named_and_by_default_still_ready(live_server, settings):
    """Redis is an accelerator: every instance shares it, and the BFF works on without it."""
    settings.CACHES = redis_cache(free_port())
    response = readyz(live_server.url)
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"] == "ConnectionError"
    assert body["failed"] == ["cache"]


def test_a_broken_required_check_is_503_with_retry_after(live_server, settings):
    settings.CACHES = redis_cache(free_port())
    settings.BFF_READY_REQUIRED_CHECKS = ["database", "cache"]
    response = readyz(live_server.url)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json() == {
        "ready": False,
        "checks": {"database": "ok", "cache": "ConnectionError"},
        "failed": ["cache"],
    }


def test_a_hung_cache_costs_the_probe_its_timeout_only(live_server, settings, black_hole):
    settings.CACHES = redis_cache(black_hole.port, timeout=10)
    settings.BFF_READY_TIMEOUT_SECONDS = 0.3
    started = time.monotonic()
    response = readyz(live_server.url)
    assert time.monotonic() - started < 2
    assert response.json()["checks"] == {"database": "ok", "cache": "timeout"}


def test_the_lock_redis_is_checked_when_it_is_the_lock(live_server, settings, no_cached_lock):
    settings.BFF_LOCK_BACKEND = "bff.locks.redis.RedisLock"
    settings.BFF_LOCK_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.BFF_READY_REQUIRED_CHECKS = ["database", "lock_redis"]
    response = readyz(live_server.url)
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "lock_redis": "ConnectionError"}


def test_healthz_is_a_constant_ok(live_server):
    response = requests.get(f"{live_server.url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.text == "ok"


# --- Under gunicorn, every store gone ------------------------------------------------------


@pytest.fixture(scope="module")
def stranded(tmp_path_factory) -> Iterator[str]:
    """A BFF whose database refuses connections and whose Redis (cache and lock) never
    answers, with socket timeouts longer than the probe's own."""
    cache_hole, lock_hole = BlackHole(), BlackHole()
    workdir: Path = tmp_path_factory.mktemp("stranded-bff")
    server = Server(
        name="bff-stranded",
        settings_module="config.settings",
        workdir=workdir,
        threads=8,
        ready_path="/healthz",
        env={
            "DJANGO_HTTPS": "false",
            "DATABASE_URL": f"postgres://nobody@127.0.0.1:{free_port()}/gone",
            "CACHE_URL": f"redis://127.0.0.1:{cache_hole.port}/0",
            "CACHE_TIMEOUT_SECONDS": "5",
            "BFF_LOCK_BACKEND": "bff.locks.redis.RedisLock",
            "BFF_LOCK_REDIS_URL": f"redis://127.0.0.1:{lock_hole.port}/0",
            "BFF_READY_TIMEOUT_SECONDS": "0.5",
            "BFF_READY_REQUIRED_CHECKS": "database,cache,lock_redis",
        },
    ).start()
    yield server.url
    server.stop()
    cache_hole.close()
    lock_hole.close()


def test_healthz_answers_at_once_whatever_the_stores_do(stranded):
    with requests.Session() as client:
        for _ in range(20):
            started = time.monotonic()
            response = client.get(f"{stranded}/healthz", timeout=5)
            assert time.monotonic() - started < 0.1
            assert (response.status_code, response.text) == (200, "ok")
            assert "Set-Cookie" not in response.headers


def test_readyz_names_every_failed_store_within_its_timeout(stranded):
    started = time.monotonic()
    response = readyz(stranded)
    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = response.json()
    assert body["ready"] is False
    assert body["checks"]["cache"] == "timeout"
    # The lock's client gives up first, on its own 0.25 s socket timeout.
    assert body["checks"]["lock_redis"] in ("TimeoutError", "timeout")
    assert body["checks"]["database"] == "OperationalError"
    assert sorted(body["failed"]) == ["cache", "database", "lock_redis"]


def test_metrics_still_answer_without_a_database(stranded):
    samples = scrape(stranded)
    assert value(samples, "bff_store_errors_total", store="database", operation="metrics") >= 1
    assert value(samples, "bff_store_down", store="database") == 1
