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
from tests.support.browser import chromium_page

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
    page.goto(f"{bff}/items")
    page.wait_for_url(re.compile(r".*/accounts/login/.*"))
    page.fill("input[name=email]", USER_EMAIL)
    page.fill("input[name=password]", USER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{bff}/items")
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


def test_an_ended_session_sends_the_page_to_sign_in_and_back(wired, page):
    open_items_signed_in(page, wired.bff)
    name = f"Lost to the ended session {uuid.uuid4().hex[:8]}"

    end_sessions(TokenSession.objects.all(), TokenSession.EndReason.ENDED_BY_ADMIN)
    page.fill("#item-name", name)
    # The 401 session_expired answer sends the page to sign-in with next=/items; the
    # provider still knows the user, so it comes straight back with a new session.
    # The mutation's answer is the 401; the next good /api/graphql answer is the list query
    # of the page loaded again after sign-in.
    with page.expect_response(lambda r: r.url.endswith("/api/graphql") and r.ok):
        with page.expect_request(lambda r: "/auth/login" in r.url) as sign_in:
            page.click("#add-item button[type=submit]")
    assert sign_in.value.url == f"{wired.bff}/auth/login?next=%2Fitems"
    assert page.url == f"{wired.bff}/items"
    expect(page.locator("#items")).to_have_attribute("aria-busy", "false")
    assert TokenSession.objects.live().count() == 1
    expect(page.locator("#items li").filter(has_text=name)).to_have_count(0)
