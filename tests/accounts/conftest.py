"""The live BFF wired to a hostile OpenID Provider, and the steps of a browser's sign-in."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import pytest
import requests

from accounts.models import AuditEvent
from bff.models import TokenSession
from oidc.provider import reset_providers
from tests.support.hostile_provider import HostileProvider

PROVIDER_NAME = "hostile"


@pytest.fixture(scope="session")
def hostile_server() -> Iterator[HostileProvider]:
    provider = HostileProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def hostile(settings, live_server, hostile_server) -> Iterator[HostileProvider]:
    """A freshly reset hostile provider, the only provider of the live BFF."""
    hostile_server.reset()
    settings.OIDC_PROVIDERS = {
        PROVIDER_NAME: {
            "issuer": hostile_server.issuer,
            "client_id": hostile_server.client_id,
            "client_secret": hostile_server.client_secret,
            "scopes": "openid profile email offline_access",
        }
    }
    reset_providers()
    yield hostile_server
    reset_providers()
    hostile_server.reset()


@pytest.fixture
def bff(live_server) -> str:
    return live_server.url


@pytest.fixture
def new_browser() -> Iterator[Callable[[], requests.Session]]:
    """Make as many independent browsers (cookie jars) as a test needs."""
    made: list[requests.Session] = []

    def make() -> requests.Session:
        session = requests.Session()
        session.headers["User-Agent"] = f"Mozilla/5.0 (test browser {len(made) + 1})"
        made.append(session)
        return session

    yield make
    for session in made:
        session.close()


def start_sign_in(
    browser: requests.Session, bff: str, *, next_path: str | None = "/", provider: str = ""
) -> requests.Response:
    """GET /auth/login; the response redirects to the provider's authorization endpoint."""
    params = {"next": next_path} if next_path is not None else {}
    params.update({"provider": provider} if provider else {})
    params["again"] = "1"  # asked for on purpose, as from the page that says why it ended
    query = "?" + urlencode(params) if params else ""
    response = browser.get(f"{bff}/auth/login{query}", allow_redirects=False)
    assert response.status_code == 302, response.text
    return response


def authorize(browser: requests.Session, started: requests.Response) -> str:
    """Visit the provider's authorization endpoint; return the callback URL it sends us to."""
    response = browser.get(started.headers["Location"], allow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def sign_in(
    browser: requests.Session, bff: str, *, next_path: str | None = "/"
) -> requests.Response:
    """Login, provider, callback; returns the callback's response (not followed)."""
    callback_url = authorize(browser, start_sign_in(browser, bff, next_path=next_path))
    return browser.get(callback_url, allow_redirects=False)


def signed_in(browser: requests.Session, bff: str) -> bool:
    response = browser.get(f"{bff}/auth/session")
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


def csrf_token(browser: requests.Session, bff: str) -> str:
    """The CSRF token of a page's form (the secret lives in the session, not a cookie)."""
    page = browser.get(f"{bff}/auth/logout")
    assert page.status_code == 200
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, "the page has no form"
    return match.group(1)


def failure_reasons() -> list[str]:
    return list(
        AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGN_IN_FAILED).values_list(
            "reason", flat=True
        )
    )


def assert_sign_in_rejected(
    response: requests.Response,
    browser: requests.Session,
    bff: str,
    hostile: HostileProvider,
    *,
    reason: str | None = None,
    status: int | None = None,
) -> None:
    """A readable error page without secrets, no session for this browser, no UserInfo call."""
    assert 400 <= response.status_code < 600, response.status_code
    if status is not None:
        assert response.status_code == status
    assert "text/html" in response.headers["Content-Type"]
    assert "Sign-in failed" in response.text
    assert "Try again" in response.text
    assert "Traceback" not in response.text
    for issued in hostile.issued:
        for name in ("access_token", "refresh_token", "id_token"):
            assert issued[name] not in response.text
    assert not signed_in(browser, bff)
    assert not TokenSession.objects.live().exists()
    assert hostile.calls["userinfo"] == 0
    if reason is not None:
        assert f"<code>{html.escape(reason)}</code>" in response.text
        if reason != "unknown_state":  # anyone's noise: logged, not audited
            assert reason in failure_reasons(), failure_reasons()
