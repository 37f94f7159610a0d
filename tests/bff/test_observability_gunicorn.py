"""The BFF as deployed (config/gunicorn.conf.py, two workers, LOG_FORMAT=json): /metrics adds
up the workers (prometheus-client's multiprocess mode) and keeps a dead worker's counts, and
every log line is JSON without a token, a code or a cookie in it."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django.db import connection

from bff.models import TokenSession
from tests.bff.conftest import make_due
from tests.bff.test_metrics import sign_out
from tests.conftest import CLIENT_SECRET, USER_EMAIL, USER_PASSWORD
from tests.support.bff import database_url, start_bff
from tests.support.echo_upstream import EchoUpstream
from tests.support.idp import provider_sign_in
from tests.support.metrics import scrape, total, value
from tests.support.servers import ROOT, Server

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS = 12


@pytest.fixture
def echo() -> Iterator[EchoUpstream]:
    server = EchoUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def deployed(lenient, echo, tmp_path) -> Iterator[tuple[Server, Path]]:
    metrics_dir = tmp_path / "metrics"
    bff = start_bff(
        tmp_path,
        port=lenient.spare_ports[0],
        database_url=database_url(connection.settings_dict),
        issuer=lenient.issuer,
        upstreams={"echo": f"{echo.url}/base"},
        workers=2,
        threads=4,
        config=ROOT / "config" / "gunicorn.conf.py",
        env={
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "DEBUG",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "GUNICORN_ACCESSLOG": "-",
        },
    )
    yield bff, metrics_dir
    bff.stop()


def worker_pids(metrics_dir: Path) -> set[int]:
    return {int(path.stem.rsplit("_", 1)[1]) for path in metrics_dir.glob("counter_*.db")}


def test_metrics_add_up_the_workers_and_outlive_them(deployed, browser):
    bff, metrics_dir = deployed
    with requests.Session() as client:  # new connections: gunicorn hands them to either worker
        for _ in range(REQUESTS):
            client.get(f"{bff.url}/auth/session", headers={"Connection": "close"}, timeout=10)
    before = scrape(bff.url)
    answered = {"view": "accounts:session", "method": "GET", "status": "401"}
    assert value(before, "bff_http_requests_total", **answered) == REQUESTS
    assert not [name for name, labels in before if dict(labels).get("pid")]
    pids = worker_pids(metrics_dir)
    assert pids and live_gauge_files(metrics_dir, pids)

    for pid in pids:
        os.kill(pid, signal.SIGTERM)  # our own gunicorn's workers: the master starts new ones
    deadline = time.monotonic() + 20
    # Their live gauges (bff_store_down) go with them: child_exit → mark_process_dead.
    while live_gauge_files(metrics_dir, pids) or not _alive_again(bff):
        assert time.monotonic() < deadline, live_gauge_files(metrics_dir, pids)
        time.sleep(0.2)
    # Their counts stay counted.
    after = scrape(bff.url)
    assert value(after, "bff_http_requests_total", **answered) == REQUESTS
    assert value(after, "bff_store_down", store="database") == 0


def live_gauge_files(metrics_dir: Path, pids: set[int]) -> list[Path]:
    return [path for pid in pids for path in metrics_dir.glob(f"gauge_live*_{pid}.db")]


def _alive_again(bff: Server) -> bool:
    try:
        return requests.get(f"{bff.url}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_a_sessions_life_in_json_logs_without_a_secret(deployed, browser, lenient):
    bff, _ = deployed
    start = browser.get(
        f"{bff.url}/auth/login?{urlencode({'next': '/', 'again': '1'})}", allow_redirects=False
    )
    to_callback = provider_sign_in(browser, start.headers["Location"], USER_EMAIL, USER_PASSWORD)
    callback = to_callback.headers["Location"]
    assert browser.get(callback, allow_redirects=False).status_code == 302
    signed_in = TokenSession.objects.live().get().tokens
    make_due()
    api = browser.get(f"{bff.url}/api/echo/things?x=1", headers={"X-CSRF": "1"})
    assert api.status_code == 200, api.text
    refreshed = TokenSession.objects.live().get().tokens
    assert lenient.proxy.refresh_grants == 1
    cookie = browser.cookies.get("bff_session")
    samples = scrape(bff.url)
    sign_out(browser, bff.url)
    assert value(samples, "bff_sign_ins_total", provider="oidc") == 1
    assert value(samples, "bff_refreshes_total", provider="oidc", outcome="ok") == 1
    assert total(samples, "bff_upstream_requests_total", upstream="echo") == 1
    assert value(samples, "bff_sessions_live", provider="oidc") == 1

    deadline = time.monotonic() + 10
    while "logout" not in bff.read_log() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = bff.log_path.read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    loggers = {line["logger"] for line in lines}
    assert {"gunicorn.error", "gunicorn.access", "bff.refresh", "bff.proxy"} <= loggers
    request_id = api.headers["X-Request-ID"]
    (api_line,) = [line for line in lines if line["message"].startswith("api upstream=echo")]
    assert api_line["request_id"] == request_id
    (access_line,) = [
        line for line in lines if line["logger"] == "gunicorn.access" and "/api/" in line["message"]
    ]
    assert access_line["request_id"] == request_id
    assert "x=1" not in access_line["message"]  # the path without its query
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)

    query = parse_qs(urlsplit(callback).query)
    secrets = [query["code"][0], query["state"][0], CLIENT_SECRET, cookie]
    for tokens in (signed_in, refreshed):
        secrets += [tokens.access_token, tokens.refresh_token, tokens.id_token]
    for secret in secrets:
        assert secret and secret not in log
