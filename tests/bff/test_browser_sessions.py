"""A person's sessions in a real Chromium: tabs that refresh at once, sign-out in one tab,
a deactivated account, and no token in anything a page's script can read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from accounts.models import User
from bff.models import TokenSession
from tests.bff.conftest import make_due
from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, open_signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FETCH_ECHO = """() => fetch("/api/echo/tab", {headers: {"X-CSRF": "1"}})
    .then(r => r.status, () => 0)"""


@pytest.fixture
def context(monkeypatch) -> Iterator[BrowserContext]:
    """One Chromium profile: its tabs share the session cookie, as a person's tabs do."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context()
        context.set_default_timeout(15_000)
        yield context
        context.close()
        browser.close()


@pytest.fixture
def signed_in(strict, live_server, settings, echo_server, context) -> Page:
    """A first tab, signed in on the provider's page, on the sessions page."""
    settings.BFF_UPSTREAMS = {"echo": f"{echo_server.url}/base"}
    page = context.new_page()
    open_signed_in(page, live_server.url, "/auth/sessions", USER_EMAIL, USER_PASSWORD)
    return page


def test_three_tabs_calling_at_once_share_one_refresh(signed_in, strict, live_server, context):
    tabs = [signed_in, context.new_page(), context.new_page()]
    for tab in tabs[1:]:
        tab.goto(f"{live_server.url}/items")
    record = make_due(remaining=30)
    strict.proxy.reset()
    with ExitStack():
        for tab in tabs:  # start all three before waiting for any
            tab.evaluate(f"() => {{ window.answer = ({FETCH_ECHO})(); }}")
        statuses = [tab.evaluate("() => window.answer") for tab in tabs]
    assert statuses == [200, 200, 200]
    assert strict.proxy.refresh_grants == 1
    assert TokenSession.objects.get(pk=record.pk).version == record.version + 1


def test_sign_out_in_one_tab_sends_the_other_tabs_to_the_signed_out_page(
    signed_in, live_server, context
):
    other = context.new_page()
    other.goto(f"{live_server.url}/items")
    signed_in.get_by_role("button", name="Sign out").first.click()
    # Without the ID token as a hint the provider asks the person itself (RP-Initiated
    # Logout 1.0, 2): its own confirmation page.
    signed_in.wait_for_url(re.compile(r".*/o/logout/.*"))
    signed_in.get_by_role("button", name="Sign out").click()
    signed_in.wait_for_url(re.compile(r".*/auth/signed-out$"))
    expect(signed_in.get_by_role("heading", name="You are signed out")).to_be_visible()
    assert "state=" not in signed_in.url

    other.goto(f"{live_server.url}/items")  # the other tab's next page
    other.wait_for_url(re.compile(r".*/auth/signed-out$"))
    expect(other.get_by_role("heading", name="You are signed out")).to_be_visible()
    assert not TokenSession.objects.live().exists()


def test_a_deactivated_user_gets_one_page_no_loop_no_new_record(signed_in, live_server):
    User.objects.filter(email=USER_EMAIL).update(is_active=False)
    User.objects.get(email=USER_EMAIL).save()  # as the admin does: drops cached records
    redirects = []
    signed_in.on("response", lambda r: 300 <= r.status < 400 and redirects.append(r.url))
    signed_in.goto(f"{live_server.url}/items")
    expect(signed_in.get_by_role("status")).to_have_text(
        "Your account has been deactivated. Ask an administrator."
    )
    assert not signed_in.get_by_role("link", name="Sign in again").count()
    assert len(redirects) <= 2, redirects
    assert not TokenSession.objects.live().exists()
    assert TokenSession.objects.get().end_reason == TokenSession.EndReason.ACCOUNT_DISABLED

    # Signing in anyway at the provider ends on a page too, without a session record.
    signed_in.goto(f"{live_server.url}/auth/login?again=1&next=/items")
    signed_in.wait_for_url(re.compile(r".*/accounts/login/.*"))
    signed_in.fill("input[name=email]", USER_EMAIL)
    signed_in.fill("input[name=password]", USER_PASSWORD)
    signed_in.click("button[type=submit]")
    expect(signed_in.get_by_role("heading", name="Sign-in failed")).to_be_visible()
    expect(signed_in.locator("code")).to_have_text("account_disabled")
    assert TokenSession.objects.count() == 1


def test_no_token_is_readable_by_a_page_script(signed_in, live_server, context):
    assert signed_in.evaluate(FETCH_ECHO) == 200  # a page script calling the API
    tokens = TokenSession.objects.live().get().tokens
    seen = signed_in.evaluate(
        """() => JSON.stringify([document.cookie, {...localStorage}, {...sessionStorage},
            document.documentElement.outerHTML])"""
    )
    for token in (tokens.access_token, tokens.refresh_token, tokens.id_token):
        assert token and token not in seen
    ours = context.cookies(live_server.url)
    assert [c["name"] for c in ours] == ["bff_session"]
    assert all(c["httpOnly"] for c in ours)
