"""The pages a person sees, in a real headless Chromium against the live BFF: who is signed
in and where they are, confirmation before ending sessions and a message after, Cancel on
the sign-out page, local times, a favicon, and no sideways scrolling on a phone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from playwright.sync_api import Page, expect

from accounts.models import User
from bff.models import TokenSession
from bff.sessions import end_sessions
from oidc.provider import reset_providers
from tests.conftest import CLIENT_ID, CLIENT_SECRET, USER_EMAIL, USER_PASSWORD, sign_in
from tests.support import browser as playwright_browser
from tests.support.browser import PHONE, chromium_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE_WIDTH = PHONE["viewport"]["width"]


@pytest.fixture
def allow_orm_in_playwright(monkeypatch) -> None:
    # Playwright's sync API runs an event loop in this thread; the ORM calls these tests
    # make meanwhile are still plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def page(allow_orm_in_playwright) -> Iterator[Page]:
    # A zone far from UTC, so the local-time rewrite shows.
    with chromium_page(timezone_id="Asia/Tokyo") as page:
        yield page


@pytest.fixture
def phone(allow_orm_in_playwright) -> Iterator[Page]:
    with chromium_page(**PHONE) as page:
        yield page


def open_signed_in(page: Page, bff: str, path: str) -> None:
    """Open `path`, signing in on the provider's page on the way."""
    playwright_browser.open_signed_in(page, bff, path, USER_EMAIL, USER_PASSWORD)


def another_device(bff: str) -> requests.Session:
    """A second session of the same person (a scripted browser)."""
    device = requests.Session()
    assert sign_in(device, bff).status_code == 302
    return device


def is_signed_in(device: requests.Session, bff: str) -> bool:
    return device.get(f"{bff}/auth/session", timeout=10).status_code == 200


def assert_fits(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"{page.url} scrolls sideways: {width}px"


def test_the_header_names_the_person_and_marks_the_page_and_a_favicon_is_served(wired, page):
    open_signed_in(page, wired.bff, "/")
    expect(page.locator("header .who")).to_have_text("Signed in as Alice Example")
    current = page.locator('header nav a[aria-current="page"]')
    for path, name in [("/", "Dashboard"), ("/items", "Items"), ("/auth/sessions", "Sessions")]:
        page.goto(f"{wired.bff}{path}")
        expect(current).to_have_count(1)
        expect(current).to_have_text(name)

    # No name from the provider: the email stands in.
    User.objects.filter(email=USER_EMAIL).update(name="")
    page.reload()
    expect(page.locator("header .who")).to_have_text(f"Signed in as {USER_EMAIL}")

    href = page.locator('link[rel="icon"]').get_attribute("href")
    assert href and href.startswith("/static/")
    icon = page.request.get(f"{wired.bff}{href}")
    assert icon.status == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.body().lstrip().startswith(b"<svg")


def test_ending_sessions_asks_first_and_says_so_after(wired, page):
    other = another_device(wired.bff)
    open_signed_in(page, wired.bff, "/auth/sessions")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)

    # Times: UTC on the server, the viewer's zone in the browser, UTC kept as the title.
    started = rows.first.locator("time").first
    expect(started).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"))
    expect(started).to_have_text(re.compile(r"GMT\+9$"))

    # Nothing ends on the first press: it opens a confirmation, here with the keyboard.
    row = rows.filter(has_text="Python Requests")
    end = row.get_by_role("button", name="End session", exact=True)
    expect(end).to_be_hidden()
    summary = row.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(end).to_be_visible()
    expect(row).to_contain_text("It is signed out at once")
    expect(summary).to_have_text("Cancel", use_inner_text=True)
    summary.click()  # Cancel closes it again, nothing ended
    expect(end).to_be_hidden()
    assert is_signed_in(other, wired.bff)

    summary.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(end).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{wired.bff}/auth/sessions")
    expect(page.get_by_role("status")).to_have_text("Session ended. That device is signed out.")
    expect(rows).to_have_count(1)
    assert not is_signed_in(other, wired.bff)
    expect(page.get_by_text("This browser is your only session.")).to_be_visible()

    # Sign out everywhere else: the same, for every other session at once.
    others = [another_device(wired.bff), another_device(wired.bff)]
    page.reload()
    everywhere = page.get_by_role("button", name="Sign out everywhere else", exact=True)
    expect(everywhere).to_be_hidden()
    page.locator("details.everywhere summary").click()
    expect(page.locator("details.everywhere")).to_contain_text("you stay signed in here")
    everywhere.click()
    page.wait_for_url(f"{wired.bff}/auth/sessions")
    expect(page.get_by_role("status")).to_have_text("Ended 2 other sessions.")
    assert not any(is_signed_in(device, wired.bff) for device in others)
    assert TokenSession.objects.live().count() == 1
    page.reload()  # the message is shown once
    expect(page.locator(".messages")).to_have_count(0)


def test_cancel_on_the_sign_out_page_goes_back(wired, page):
    open_signed_in(page, wired.bff, "/items")
    cancel = page.get_by_role("link", name="Cancel")

    page.goto(f"{wired.bff}/auth/logout?{urlencode({'next': '/items?sort=name'})}")
    expect(page.get_by_role("heading", name="Sign out?")).to_be_visible()
    cancel.click()
    page.wait_for_url(f"{wired.bff}/items?sort=name")

    page.goto(f"{wired.bff}/auth/logout")
    cancel.click()
    page.wait_for_url(f"{wired.bff}/")
    assert TokenSession.objects.live().count() == 1

    # Only ever back to this site.
    for hostile in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        " //evil.example",
    ]:
        page.goto(f"{wired.bff}/auth/logout?{urlencode({'next': hostile})}")
        target = cancel.evaluate("a => a.href")
        assert urlsplit(target).netloc == urlsplit(wired.bff).netloc, (hostile, target)


def test_the_pages_fit_a_phone(wired, phone, settings):
    open_signed_in(phone, wired.bff, "/")
    assert_fits(phone)
    phone.goto(f"{wired.bff}/items")
    expect(phone.locator("#items")).to_have_attribute("aria-busy", "false")
    assert_fits(phone)
    phone.goto(f"{wired.bff}/auth/sessions")
    phone.locator("tbody summary").first.click()
    assert_fits(phone)
    phone.goto(f"{wired.bff}/auth/logout?next=/items")
    assert_fits(phone)

    end_sessions(TokenSession.objects.all(), TokenSession.EndReason.ENDED_BY_ADMIN)
    phone.goto(f"{wired.bff}/items")
    phone.wait_for_url(re.compile(r".*/auth/ended\?next=%2Fitems$"))
    assert_fits(phone)
    phone.goto(f"{wired.bff}/auth/signed-out")
    expect(phone.get_by_role("heading", name="You are signed out")).to_be_visible()
    assert_fits(phone)
    phone.goto(f"{wired.bff}/no/such/page")
    assert_fits(phone)

    # The provider chooser, with two providers.
    provider = dict(settings.OIDC_PROVIDERS["oidc"], client_id=CLIENT_ID)
    settings.OIDC_PROVIDERS = {
        "oidc": provider,
        "partner": {**provider, "client_secret": CLIENT_SECRET, "display_name": "Partner"},
    }
    reset_providers()
    phone.goto(f"{wired.bff}/auth/login?again=1")
    expect(phone.get_by_role("link", name="Sign in with Partner")).to_be_visible()
    assert_fits(phone)
