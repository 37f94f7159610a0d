"""The items page in a real headless Chromium: the JS module calls /api/graphql on the live
BFF, which forwards to the demo API with the session's token."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from bff.models import TokenSession
from bff.sessions import end_sessions
from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.support.browser import chromium_page, open_signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(monkeypatch) -> Iterator[Page]:
    # Playwright's sync API runs an event loop in this thread; the ORM calls these tests
    # make meanwhile are still plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium_page() as page:
        yield page


def open_items_signed_in(page: Page, bff: str) -> None:
    """Open /items, sign in on the provider's page on the way, wait for the list."""
    open_signed_in(page, bff, "/items", USER_EMAIL, USER_PASSWORD)
    expect(page.locator("#items")).to_have_attribute("aria-busy", "false")


def test_items_page_lists_and_adds_through_the_graphql_gateway(wired, page):
    open_items_signed_in(page, wired.bff)
    name = f"Water the plants {uuid.uuid4().hex[:8]}"

    graphql_calls = []
    page.on("request", lambda r: r.url.endswith("/api/graphql") and graphql_calls.append(r))
    page.fill("#item-name", name)
    page.click("#add-item button[type=submit]")

    expect(page.locator("#status")).to_have_text(f"Added “{name}”.")
    expect(page.locator("#items li").filter(has_text=name)).to_have_count(1)
    assert graphql_calls, "the page did not call /api/graphql"
    headers = graphql_calls[0].headers
    assert headers["x-csrf"] == "1"
    assert "authorization" not in headers
    # Nothing on the page holds a token.
    token = TokenSession.objects.live().get().tokens.access_token
    assert token not in page.content()


def test_an_ended_session_says_why_and_signing_in_again_asks_for_the_password(wired, page):
    """The typed item survives: the page's onSessionExpired hook keeps it (sessionStorage),
    says what happened, and after signing in again puts it back in the field."""
    open_items_signed_in(page, wired.bff)
    name = f"Kept across the ended session {uuid.uuid4().hex[:8]}"

    end_sessions(TokenSession.objects.all(), TokenSession.EndReason.ENDED_BY_ADMIN)
    page.fill("#item-name", name)
    page.click("#add-item button[type=submit]")
    # The 401 session_expired answer goes to the page's hook: no navigation, nothing lost.
    expect(page.locator("#status")).to_have_text("Your session has ended. Sign in again to add it.")
    assert page.url == f"{wired.bff}/items"
    expect(page.locator("#item-name")).to_have_value(name)
    assert page.evaluate("() => Object.values(sessionStorage)") == [name]
    sign_in_again = page.get_by_role("link", name="Sign in again")
    expect(sign_in_again).to_be_focused()
    expect(sign_in_again).to_have_attribute("href", "/auth/ended?next=%2Fitems")

    # The page that says why, then the provider: it asks for the password although its own
    # session is live, because the session was ended by someone else (prompt=login).
    sign_in_again.click()
    page.wait_for_url(re.compile(r".*/auth/ended\?next=%2Fitems$"))
    expect(page.get_by_role("status")).to_have_text("An administrator ended your session.")
    page.get_by_role("link", name="Sign in again").click()
    page.wait_for_url(re.compile(r".*/accounts/login/.*"))
    page.fill("input[name=email]", USER_EMAIL)
    page.fill("input[name=password]", USER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{wired.bff}/items")
    expect(page.locator("#items")).to_have_attribute("aria-busy", "false")
    assert TokenSession.objects.live().count() == 1

    # Back on /items: the name is in the field again, and no longer in storage.
    expect(page.locator("#item-name")).to_have_value(name)
    expect(page.locator("#status")).to_have_text(
        f"“{name}” is back in the field. Press Add to add it."
    )
    assert page.evaluate("() => sessionStorage.length") == 0
    page.click("#add-item button[type=submit]")
    expect(page.locator("#status")).to_have_text(f"Added “{name}”.")
    expect(page.locator("#items li").filter(has_text=name)).to_have_count(1)
    expect(page.locator("#item-name")).to_have_value("")


def test_without_a_hook_api_js_goes_to_the_page_that_says_why(wired, page):
    """A page that sets no onSessionExpired hook is sent to the 401's login_url, with
    next = the page (same origin only)."""
    open_items_signed_in(page, wired.bff)
    end_sessions(TokenSession.objects.all(), TokenSession.EndReason.ENDED_BY_ADMIN)
    page.evaluate(
        """async () => {
            const api = await import("/static/js/api.js");
            api.setSessionExpiredHandler(null);
            api.api("/api/demo/items").catch(() => {});
        }"""
    )
    page.wait_for_url(re.compile(r".*/auth/ended\?next=%2Fitems$"))
    expect(page.get_by_role("status")).to_have_text("An administrator ended your session.")
