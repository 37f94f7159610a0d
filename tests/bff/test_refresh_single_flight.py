"""One refresh grant per rotation per session, however many threads, workers and hosts ask.

The provider runs with reuse detection on and grace zero: a second refresh with the same
token would kill the chain and make requests fail, so a double refresh cannot hide.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests
from django.db import connection

from bff.models import TokenSession
from tests.bff.conftest import make_due
from tests.conftest import sign_in
from tests.support.bff import REDIS_URL, database_url, fresh_postgres_database, start_bff
from tests.support.idp import find_form
from tests.support.servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)


def fire_together(
    urls: list[str], cookies: dict[str, str], headers: dict[str, str] | None = None
) -> list[int]:
    """GET every url at once (threads released by one barrier); return the status codes."""
    barrier = threading.Barrier(len(urls))

    def one(url: str) -> int:
        with requests.Session() as session:
            session.cookies.update(cookies)
            session.headers.update(headers or {})
            barrier.wait()
            return session.get(url, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        return list(pool.map(one, urls))


def session_cookie(browser: requests.Session) -> dict[str, str]:
    return {"bff_session": browser.cookies.get("bff_session")}


def test_parallel_requests_share_one_refresh(strict, live_server, browser):
    sign_in(browser, live_server.url)
    before = make_due()
    statuses = fire_together([f"{live_server.url}/auth/session"] * 20, session_cookie(browser))
    assert statuses == [200] * 20
    assert strict.proxy.refresh_grants == 1
    after = TokenSession.objects.get(pk=before.pk)
    assert after.version == before.version + 1
    assert after.tokens.refresh_token != before.tokens.refresh_token
    # The chain is intact: the rotated token still refreshes.
    make_due()
    assert browser.get(f"{live_server.url}/auth/session").status_code == 200
    assert strict.proxy.refresh_grants == 2


def test_gunicorn_workers_share_one_refresh(strict, live_server, tmp_path):
    port = strict.spare_ports[0]
    bff = start_bff(
        tmp_path,
        port=port,
        database_url=database_url(connection.settings_dict),
        issuer=strict.issuer,
        upstreams={},
        workers=3,
    )
    try:
        browser = requests.Session()
        sign_in(browser, bff.url)
        before = make_due()
        statuses = fire_together([f"{bff.url}/auth/session"] * 30, session_cookie(browser))
        assert statuses == [200] * 30
        assert strict.proxy.refresh_grants == 1
        assert TokenSession.objects.get(pk=before.pk).version == before.version + 1
    finally:
        bff.stop()


@pytest.mark.scaleout
@pytest.mark.parametrize(
    "lock_backend", ["bff.locks.database.DatabaseLock", "bff.locks.redis.RedisLock"]
)
def test_two_instances_on_postgres_share_one_refresh(strict, tmp_path, lock_backend):
    database_url = fresh_postgres_database("bff_scaleout_test")
    first_port, second_port = strict.spare_ports[1], strict.spare_ports[2]
    common = {
        "database_url": database_url,
        "issuer": strict.issuer,
        "upstreams": {},
        "lock_backend": lock_backend,
        "workers": 2,
        # With Redis also as the cache: sessions and records are cached across instances.
        "env": {"CACHE_URL": REDIS_URL if "Redis" in lock_backend else "locmemcache://"},
    }
    first = start_bff(tmp_path / "a", port=first_port, migrate=True, **common)
    second = start_bff(tmp_path / "b", port=second_port, **common)
    try:
        browser = requests.Session()
        sign_in(browser, first.url)
        with psycopg.connect(database_url, autocommit=True) as db:
            # No request has loaded the record since sign-in, so nothing cached it yet.
            db.execute(
                "UPDATE bff_tokensession SET access_issued_at = now() - interval '890 seconds',"
                " access_expires_at = now() + interval '10 seconds'"
            )
            urls = [f"{first.url}/auth/session", f"{second.url}/auth/session"] * 15
            statuses = fire_together(urls, session_cookie(browser))
            version = db.execute("SELECT version FROM bff_tokensession").fetchone()[0]
        assert statuses == [200] * 30
        assert strict.proxy.refresh_grants == 1
        assert version == 2
        # Signed out on one instance: the other sees it on the very next request.
        cookies = session_cookie(browser)
        assert requests.get(f"{second.url}/auth/session", cookies=cookies).status_code == 200
        _, form = find_form(browser.get(f"{first.url}/auth/logout"), "csrfmiddlewaretoken")
        token = form["csrfmiddlewaretoken"]
        signed_out = browser.post(
            f"{first.url}/auth/logout", data={"csrfmiddlewaretoken": token}, allow_redirects=False
        )
        assert signed_out.status_code == 302
        assert (
            requests.get(
                f"{second.url}/auth/session", cookies=session_cookie(browser), timeout=10
            ).status_code
            == 401
        )
    finally:
        first.stop()
        second.stop()


@pytest.mark.scaleout
def test_redis_lock_is_exclusive_and_released_only_by_its_holder(settings):
    import redis

    from bff.exceptions import LockTimeout
    from bff.locks.redis import RedisLock

    settings.BFF_LOCK_REDIS_URL = REDIS_URL
    lock = RedisLock()
    with lock.hold("s1", wait=1) as held:
        assert not held.lost()
        with pytest.raises(LockTimeout):
            with lock.hold("s1", wait=0.1):
                pass
    # Passed to another holder while held: the first one knows, and its release keeps theirs.
    client = redis.Redis.from_url(REDIS_URL)
    with lock.hold("s2", wait=1) as held:
        client.set("bff:refresh-lock:s2", "someone-else", px=5000)
        assert held.lost()
    assert client.get("bff:refresh-lock:s2") == b"someone-else"
    client.delete("bff:refresh-lock:s2")


@pytest.mark.scaleout
def test_redis_lock_is_renewed_while_held(settings):
    import redis

    from bff.locks.redis import RedisLock

    settings.BFF_LOCK_REDIS_URL = REDIS_URL
    lock = RedisLock()
    lock.ttl = 0.3  # renewed every 0.1 s
    client = redis.Redis.from_url(REDIS_URL)
    with lock.hold("s3", wait=1) as held:
        time.sleep(1.0)  # three lifetimes
        assert not held.lost()
        assert client.pttl("bff:refresh-lock:s3") > 0
    assert client.get("bff:refresh-lock:s3") is None


def test_redis_lock_falls_back_to_the_database_lock_when_redis_is_unreachable(settings):
    from bff.locks.redis import RedisLock

    settings.BFF_LOCK_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    lock = RedisLock()
    with lock.hold("00000000-0000-0000-0000-000000000000", wait=1) as held:
        assert not held.lost()  # the database lock: held until its transaction ends
