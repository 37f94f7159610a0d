"""Several providers: a chooser page, per-provider callback URLs, one identity per
(issuer, sub), never linked by email."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from accounts.models import Identity, User
from bff.models import TokenSession
from oidc.provider import reset_providers
from tests.accounts.conftest import authorize, signed_in
from tests.support.browser import PHONE, chromium_page
from tests.support.hostile_provider import HostileProvider

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def partner_server() -> Iterator[HostileProvider]:
    provider = HostileProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def two_providers(settings, hostile, partner_server) -> Iterator[dict[str, HostileProvider]]:
    """The hostile provider as "corp" and a second one as "partner", both for one person."""
    partner_server.reset()

    def config(server: HostileProvider, label: str) -> dict[str, str]:
        return {
            "issuer": server.issuer,
            "client_id": server.client_id,
            "client_secret": server.client_secret,
            "display_name": label,
        }

    settings.OIDC_PROVIDERS = {
        "corp": config(hostile, "Corp SSO"),
        "partner": config(partner_server, "Partner ID"),
    }
    reset_providers()
    yield {"corp": hostile, "partner": partner_server}
    reset_providers()
    partner_server.reset()


def chooser_links(html: str) -> dict[str, str]:
    return {
        label: href.replace("&amp;", "&")
        for href, label in re.findall(
            r'<a class="button" href="([^"]+)">Sign in with ([^<]+)<', html
        )
    }


def test_login_shows_a_chooser_with_each_provider(two_providers, bff, browser):
    page = browser.get(f"{bff}/auth/login?next=/items", allow_redirects=False)
    assert page.status_code == 200
    assert chooser_links(page.text) == {
        "Corp SSO": "/auth/login?provider=corp&next=%2Fitems",
        "Partner ID": "/auth/login?provider=partner&next=%2Fitems",
    }
    start = browser.get(f"{bff}/auth/login?provider=partner&next=/items", allow_redirects=False)
    assert start.status_code == 302
    assert start.headers["Location"].startswith(two_providers["partner"].issuer)
    redirect_uri = parse_qs(urlsplit(start.headers["Location"]).query)["redirect_uri"][0]
    assert urlsplit(redirect_uri).path == "/auth/callback/partner"


def test_an_unknown_provider_is_a_404(two_providers, bff, browser):
    assert browser.get(f"{bff}/auth/login?provider=nope").status_code == 404


def test_the_same_person_at_two_providers_is_two_identities(two_providers, bff, new_browser):
    """Same sub and same email at both: still two users; linking by email never happens."""
    for name in ("corp", "partner"):
        browser = new_browser()
        start = browser.get(f"{bff}/auth/login?provider={name}&next=/", allow_redirects=False)
        callback = authorize(browser, start)
        assert urlsplit(callback).path == f"/auth/callback/{name}"
        assert browser.get(callback, allow_redirects=False).status_code == 302
        assert signed_in(browser, bff)
    corp, partner = two_providers["corp"], two_providers["partner"]
    assert corp.subject == partner.subject and corp.profile == partner.profile
    identities = Identity.objects.order_by("provider")
    assert [(i.provider, i.issuer) for i in identities] == [
        ("corp", corp.issuer),
        ("partner", partner.issuer),
    ]
    assert User.objects.count() == 2
    assert len({record.user_id for record in TokenSession.objects.live()}) == 2


@pytest.mark.browser
def test_a_person_picks_a_provider_with_the_keyboard_on_a_phone(two_providers, bff, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium_page(**PHONE) as page:
        page.goto(f"{bff}/items")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        link = page.get_by_role("link", name="Sign in with Partner ID")
        box = link.bounding_box()
        assert box is not None and box["width"] <= 375  # fits the phone's width
        for _ in range(10):  # Tab through the page until the link has the focus
            page.keyboard.press("Tab")
            if link.evaluate("element => element === document.activeElement"):
                break
        else:
            pytest.fail("the provider link cannot be reached with the keyboard")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{bff}/items")
        assert TokenSession.objects.live().get().provider == "partner"
