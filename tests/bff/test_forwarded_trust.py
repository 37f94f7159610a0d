"""Whom the BFF believes about the connection, under gunicorn with config/gunicorn.conf.py as
deployed (issue 10, item 7): X-Forwarded-Proto and its kin make a request https only behind
a proxy (DJANGO_BEHIND_PROXY) and only from its addresses (BFF_TRUSTED_PROXIES); by default
from nobody, not even 127.0.0.1.

Each BFF runs in its own gunicorn process with DJANGO_HTTPS on, so a request it takes for
plain http is redirected to https and one it takes for https reaches the echo upstream.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.echo_upstream import EchoUpstream
from tests.support.servers import ROOT, Server

SETTINGS = """
from tests.settings import *  # noqa: F403

BFF_UPSTREAMS = {{"echo": {{"url": "{echo}/base", "token": "none"}}}}
# Django's side of the same trust, as config/settings.py sets it from the environment.
BFF_TRUSTED_PROXIES = {trusted!r}
"""

# Each of these makes a request https in gunicorn's default secure_scheme_headers.
SCHEME_CLAIMS = [
    {"X-Forwarded-Proto": "https"},
    {"X-Forwarded-Ssl": "on"},
    {"X-Forwarded-Protocol": "ssl"},
]


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoUpstream]:
    server = EchoUpstream().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def clean(echo) -> None:
    echo.reset()


def start_bff(workdir: Path, echo: EchoUpstream, env: dict[str, str]) -> Server:
    """The BFF under gunicorn, configured by config/gunicorn.conf.py and `env`."""
    trusted = [a for a in env.get("BFF_TRUSTED_PROXIES", "").split(",") if a]
    (workdir / "forwarded_trust_settings.py").write_text(
        SETTINGS.format(echo=echo.url, trusted=trusted)
    )
    return Server(
        name="bff-forwarded-trust",
        settings_module="config.settings",  # for config.wsgi; the env below picks the module
        workdir=workdir,
        threads=4,
        ready_path="/healthz",
        env={
            "GUNICORN_CMD_ARGS": f"-c {ROOT / 'config' / 'gunicorn.conf.py'}",
            "DJANGO_SETTINGS_MODULE": "forwarded_trust_settings",
            "PYTHONPATH": str(workdir),
            "DATABASE_URL": f"sqlite:///{workdir / 'unused.sqlite3'}",
            "DJANGO_HTTPS": "true",
            "DJANGO_BEHIND_PROXY": "",
            "BFF_TRUSTED_PROXIES": "",
            **env,
        },
    ).start()


@pytest.fixture(scope="module")
def no_proxy(echo, tmp_path_factory) -> Iterator[str]:
    """The defaults: no proxy in front, nobody trusted."""
    server = start_bff(tmp_path_factory.mktemp("no-proxy"), echo, {})
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def behind_local_proxy(echo, tmp_path_factory) -> Iterator[str]:
    """Behind a proxy on 127.0.0.1, which the tests play."""
    server = start_bff(
        tmp_path_factory.mktemp("local-proxy"),
        echo,
        {"DJANGO_BEHIND_PROXY": "true", "BFF_TRUSTED_PROXIES": "127.0.0.1"},
    )
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def behind_other_proxy(echo, tmp_path_factory) -> Iterator[str]:
    """Behind a proxy elsewhere: the tests on 127.0.0.1 are a client that went around it."""
    server = start_bff(
        tmp_path_factory.mktemp("other-proxy"),
        echo,
        {"DJANGO_BEHIND_PROXY": "true", "BFF_TRUSTED_PROXIES": "10.0.0.0/8"},
    )
    yield server.url
    server.stop()


def get(base: str, **headers: str) -> requests.Response:
    return requests.get(
        f"{base}/api/echo/x", headers={"X-CSRF": "1", **headers}, allow_redirects=False, timeout=10
    )


def assert_redirected_to_https(response: requests.Response) -> None:
    assert response.status_code == 301, (response.status_code, response.text[:300])
    assert response.headers["Location"].startswith("https://")


@pytest.mark.parametrize("claim", SCHEME_CLAIMS)
def test_a_local_client_claiming_https_is_not_believed_without_trusted_proxies(
    no_proxy, echo, claim
):
    assert_redirected_to_https(get(no_proxy, **claim))
    assert echo.seen == []


@pytest.mark.parametrize("claim", SCHEME_CLAIMS)
def test_a_client_going_around_the_proxy_is_not_believed(behind_other_proxy, echo, claim):
    assert_redirected_to_https(get(behind_other_proxy, **claim))
    assert echo.seen == []


def test_the_trusted_proxy_is_believed_about_https_and_the_client(behind_local_proxy, echo):
    response = get(
        behind_local_proxy, **{"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    )
    assert response.status_code == 200, response.text
    [seen] = echo.seen
    assert seen["headers"]["x-forwarded-proto"] == "https"
    assert seen["headers"]["x-forwarded-for"] == "203.0.113.7"


def test_the_trusted_proxy_says_https_with_x_forwarded_proto_only(behind_local_proxy, echo):
    assert_redirected_to_https(get(behind_local_proxy))
    for claim in SCHEME_CLAIMS[1:]:
        assert_redirected_to_https(get(behind_local_proxy, **claim))
    assert echo.seen == []


def test_behind_a_proxy_with_no_trusted_address_gunicorn_says_what_to_set(echo, tmp_path):
    with pytest.raises(RuntimeError, match="set BFF_TRUSTED_PROXIES"):
        start_bff(tmp_path, echo, {"DJANGO_BEHIND_PROXY": "true"}).stop()
