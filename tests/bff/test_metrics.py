"""/metrics over real HTTP: a session's life, refresh outcomes, store failures and the lock's
fallback show in the counters; only allowed addresses (and the token, when set) may read it.

The live server runs in this process, so the counters are the process's own registry (no
PROMETHEUS_MULTIPROC_DIR): tests compare a scrape before with one after. The multiprocess
mode under gunicorn is tests/bff/test_observability_gunicorn.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from bff.locks import base as lock_base
from bff.models import TokenSession
from bff.stores import cache_store, database_store, lock_redis_store
from tests.bff.conftest import make_due, revoke_at_provider
from tests.conftest import sign_in
from tests.support.idp import find_form
from tests.support.metrics import Samples, scrape, total, value
from tests.support.servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def provider(lenient, settings, echo_server):
    """The counted provider, and the echo upstream as /api/echo."""
    settings.BFF_UPSTREAMS = {"echo": f"{echo_server.url}/base"}
    echo_server.reset()
    return lenient


@pytest.fixture
def stores_back() -> Iterator[None]:
    """Whatever a test broke, the next one starts with every store up and no lock cached."""
    lock_base._instances.clear()
    yield
    lock_base._instances.clear()
    for store in (cache_store, database_store, lock_redis_store):
        store.answered()
        store._skip_until = 0.0


def changed(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def sign_out(browser: requests.Session, bff: str) -> None:
    _, fields = find_form(browser.get(f"{bff}/auth/logout"), "csrfmiddlewaretoken")
    out = browser.post(
        f"{bff}/auth/logout",
        data={"csrfmiddlewaretoken": fields["csrfmiddlewaretoken"]},
        allow_redirects=False,
    )
    assert out.status_code == 302


def test_a_sessions_life_shows_in_the_metrics(provider, live_server, browser):
    bff = live_server.url
    before = scrape(bff)
    sign_in(browser, bff)
    make_due()
    api = browser.get(f"{bff}/api/echo/things", headers={"X-CSRF": "1"})
    assert api.status_code == 200, api.text
    during = scrape(bff)
    sign_out(browser, bff)
    after = scrape(bff)

    assert changed(before, after, "bff_sign_ins_total", provider="oidc") == 1
    assert changed(before, after, "bff_refreshes_total", provider="oidc", outcome="ok") == 1
    assert changed(before, after, "bff_refresh_duration_seconds_count", provider="oidc") == 1
    assert changed(before, after, "bff_lock_wait_seconds_count") == 1
    call = {"upstream": "echo", "method": "GET", "status_class": "2xx"}
    assert changed(before, after, "bff_upstream_requests_total", **call) == 1
    assert changed(before, after, "bff_upstream_request_duration_seconds_count", **call) == 1
    request = {"view": "api", "method": "GET", "status": "200"}
    assert changed(before, after, "bff_http_requests_total", **request) == 1
    assert changed(before, after, "bff_http_request_duration_seconds_count", view="api") == 1
    assert changed(before, after, "bff_sessions_ended_total", provider="oidc", reason="logout") == 1
    assert value(during, "bff_sessions_live", provider="oidc") == 1
    assert value(after, "bff_sessions_live", provider="oidc") == 0
    assert provider.proxy.refresh_grants == 1


def test_refresh_failures_are_counted_by_outcome(provider, live_server, browser, settings):
    bff = live_server.url
    settings.BFF_REFRESH_BACKOFF_SECONDS = 30
    settings.BFF_REFRESH_BACKOFF_MAX_SECONDS = 30
    sign_in(browser, bff)
    before = scrape(bff)
    provider.proxy.mode = "error"
    make_due()
    assert browser.get(f"{bff}/auth/session").status_code == 200  # the token is still valid
    assert browser.get(f"{bff}/auth/session").status_code == 200  # now backing off
    middle = scrape(bff)
    assert changed(before, middle, "bff_refreshes_total", provider="oidc", outcome="transient") == 1
    assert changed(before, middle, "bff_refreshes_total", provider="oidc", outcome="backing_off")

    provider.proxy.mode = "ok"
    record = make_due()  # also clears the backoff
    revoke_at_provider(provider, record.tokens.refresh_token)
    assert browser.get(f"{bff}/auth/session").status_code == 401
    after = scrape(bff)
    assert changed(middle, after, "bff_refreshes_total", provider="oidc", outcome="rejected") == 1
    ended = {"provider": "oidc", "reason": "refresh_rejected"}
    assert changed(middle, after, "bff_sessions_ended_total", **ended) == 1
    assert changed(before, after, "bff_refreshes_total", provider="oidc", outcome="ok") == 0


def test_a_cache_outage_counts_errors_and_shows_the_store_down(
    provider, live_server, browser, settings, stores_back
):
    bff = live_server.url
    sign_in(browser, bff)
    before = scrape(bff)
    assert value(before, "bff_store_down", store="cache") == 0
    settings.BFF_RECORD_CACHE = True
    settings.CACHES = {
        "default": {
            "BACKEND": "config.redis_cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    # The record is read from the database instead: nobody notices but the metrics.
    assert browser.get(f"{bff}/auth/session").status_code == 200
    down = scrape(bff)
    assert value(down, "bff_store_down", store="cache") == 1
    # The first call to fail: the record's (or, with the cached_db engine, the session's).
    assert total(down, "bff_store_errors_total", store="cache") > total(
        before, "bff_store_errors_total", store="cache"
    )

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache_store._skip_until = 0.0
    assert browser.get(f"{bff}/auth/session").status_code == 200
    assert value(scrape(bff), "bff_store_down", store="cache") == 0


def test_lock_redis_outage_falls_back_to_the_database_and_says_so(
    provider, live_server, browser, settings, stores_back
):
    bff = live_server.url
    settings.BFF_LOCK_BACKEND = "bff.locks.redis.RedisLock"
    settings.BFF_LOCK_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    sign_in(browser, bff)
    before = scrape(bff)
    make_due()
    assert browser.get(f"{bff}/auth/session").status_code == 200
    after = scrape(bff)
    assert provider.proxy.refresh_grants == 1  # refreshed all the same, under the database lock
    assert changed(before, after, "bff_lock_fallbacks_total") == 1
    errors = {"store": "lock_redis", "operation": "acquire"}
    assert changed(before, after, "bff_store_errors_total", **errors) == 1
    assert value(after, "bff_store_down", store="lock_redis") == 1
    assert changed(before, after, "bff_refreshes_total", provider="oidc", outcome="ok") == 1


def test_a_database_outage_during_a_scrape_leaves_out_the_live_sessions(
    live_server, monkeypatch, stores_back
):
    from django.db import OperationalError

    def unreachable() -> dict[str, int]:
        raise OperationalError("connection refused")

    monkeypatch.setattr("bff.sessions.live_session_counts", unreachable)
    samples = scrape(live_server.url)
    assert total(samples, "bff_sessions_live") == 0
    assert not any(name == "bff_sessions_live" for name, _ in samples)
    assert value(samples, "bff_store_errors_total", store="database", operation="metrics") >= 1


def test_live_sessions_can_be_left_out(live_server, settings):
    settings.BFF_METRICS_LIVE_SESSIONS = False
    response = requests.get(f"{live_server.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert "bff_sessions_live" not in response.text
    assert "bff_http_requests_total" in response.text


# --- Who may read them -------------------------------------------------------------------------


def assert_refused(response: requests.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == error
    assert "bff_" not in response.text
    assert "Set-Cookie" not in response.headers


def test_an_address_not_allowed_is_told_there_is_nothing_here(live_server, settings):
    settings.BFF_METRICS_ALLOWED_IPS = ["10.0.0.0/8", "2001:db8::/32"]
    response = requests.get(f"{live_server.url}/metrics", allow_redirects=False, timeout=10)
    assert_refused(response, 404, "not_found")


def test_behind_a_trusted_proxy_the_client_is_checked_not_the_proxy(live_server, settings):
    settings.BFF_TRUSTED_PROXIES = ["127.0.0.1"]
    from_afar = requests.get(
        f"{live_server.url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10
    )
    assert_refused(from_afar, 404, "not_found")
    settings.BFF_METRICS_ALLOWED_IPS = ["203.0.113.0/24"]
    assert scrape(live_server.url, headers={"X-Forwarded-For": "203.0.113.9"})


def test_a_token_when_set_is_required(live_server, settings):
    settings.BFF_METRICS_TOKEN = "scrape-secret-0123456789"
    url = f"{live_server.url}/metrics"
    assert_refused(requests.get(url, timeout=10), 403, "forbidden")
    wrong = requests.get(url, headers={"Authorization": "Bearer guess"}, timeout=10)
    assert_refused(wrong, 403, "forbidden")
    assert scrape(live_server.url, headers={"Authorization": "Bearer scrape-secret-0123456789"})


def test_metrics_never_redirect_to_sign_in_nor_start_a_session(provider, live_server, browser):
    sign_in(browser, live_server.url)
    record = TokenSession.objects.live().get()
    TokenSession.objects.filter(pk=record.pk).update(ended_at=record.created_at)
    # A browser whose session has ended: the token middleware leaves /metrics alone.
    response = browser.get(f"{live_server.url}/metrics", allow_redirects=False)
    assert response.status_code == 200
    anonymous = requests.get(f"{live_server.url}/metrics", allow_redirects=False, timeout=10)
    assert anonymous.status_code == 200
    assert "Set-Cookie" not in anonymous.headers
