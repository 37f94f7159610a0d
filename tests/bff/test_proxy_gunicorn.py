"""The /api gateway under gunicorn, as deployed: path checks on gunicorn's RAW_URI (which
keeps what the test server decodes away) and chunked request bodies (which only a
de-chunking server like gunicorn can stream).

The BFF runs in its own gunicorn process with the test settings and one extra upstream that
needs no token, so anonymous calls reach it; no session or database is involved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.bff.test_proxy_paths import PATH_ATTACKS, RAW_ONLY_PATH_ATTACKS
from tests.support.echo_upstream import EchoUpstream, pattern_bytes, pattern_sha256, send_raw
from tests.support.servers import Server

MB = 1024 * 1024
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
LIMIT = 4 * MB

SETTINGS = """
from tests.settings import *  # noqa: F403

BFF_UPSTREAMS = {{
    "echo": {{"url": "{echo}/base", "token": "none", "max_body_bytes": {limit}}},
}}
"""


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoUpstream]:
    server = EchoUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bff(echo, tmp_path_factory) -> Iterator[str]:
    workdir: Path = tmp_path_factory.mktemp("gunicorn-bff")
    (workdir / "proxy_gunicorn_settings.py").write_text(SETTINGS.format(echo=echo.url, limit=LIMIT))
    server = Server(
        name="bff-gunicorn",
        settings_module="config.settings",  # for config.wsgi; the env below picks the module
        workdir=workdir,
        threads=4,
        ready_path="/healthz",
        env={
            "DJANGO_SETTINGS_MODULE": "proxy_gunicorn_settings",
            "PYTHONPATH": str(workdir),
            "DATABASE_URL": f"sqlite:///{workdir / 'unused.sqlite3'}",
        },
    ).start()
    yield server.url
    server.stop()


@pytest.fixture(autouse=True)
def clean(echo) -> None:
    echo.reset()


def test_path_attacks_on_the_raw_uri_are_refused(bff, echo):
    for target in PATH_ATTACKS + RAW_ONLY_PATH_ATTACKS:
        status, headers, content = send_raw(bff, "GET", target, {"X-CSRF": "1"})
        assert status == 400, (target, status, content[:300])
        if _CONTROL_CHARACTER.search(target):
            continue  # gunicorn refuses such a request line itself, in plain text
        assert headers["content-type"] == "application/json", target
        assert json.loads(content)["error"] in ("unsafe_path", "unsafe_query"), target
    assert echo.seen == []


def test_the_raw_path_and_query_go_upstream_byte_for_byte(bff, echo):
    target = "/api/echo/caf%C3%A9/%41-b_c~d;v=1?x=%2F&y=%41+b&z"
    status, _, content = send_raw(bff, "GET", target, {"X-CSRF": "1"})
    assert status == 200, content
    assert echo.seen[0]["path"] == "/base/caf%C3%A9/%41-b_c~d;v=1"
    assert echo.seen[0]["query"] == "x=%2F&y=%41+b&z"


def test_chunked_upload_streams_through(bff, echo):
    size = 3 * MB
    response = requests.post(
        f"{bff}/api/echo/upload",
        data=pattern_bytes(size),  # a generator: requests sends it chunked
        headers={"X-CSRF": "1", "Origin": bff},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"size": size, "sha256": pattern_sha256(size)}
    assert echo.seen[0]["headers"]["transfer-encoding"] == "chunked"


def test_chunked_upload_growing_past_the_limit_is_413(bff, echo):
    response = requests.post(
        f"{bff}/api/echo/upload",
        data=pattern_bytes(LIMIT + 1),
        headers={"X-CSRF": "1", "Origin": bff},
        timeout=30,
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "body_too_large"
    # The upstream got a cut-off request, never a complete one.
    assert not any(seen["complete"] for seen in echo.seen)


def test_download_streams_through(bff, echo):
    size = 8 * MB
    response = requests.get(
        f"{bff}/api/echo/download?size={size}", headers={"X-CSRF": "1"}, timeout=30
    )
    assert response.status_code == 200
    assert len(response.content) == size
    assert response.headers["Content-Length"] == str(size)
