"""/admin/ in a real headless Chromium: a staff member signs in through the provider (no
password) and uses the admin under the site's Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from bff.models import TokenSession
from tests.accounts.conftest import sign_in
from tests.support.browser import chromium_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(monkeypatch) -> Iterator[Page]:
    # Playwright's sync API runs an event loop in this thread; the ORM calls are synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium_page(viewport={"width": 1280, "height": 800}) as page:
        yield page


def test_staff_signs_in_through_the_provider_and_ends_a_users_sessions(
    hostile, bff, new_browser, settings, page
):
    settings.OIDC_STAFF_CLAIM = "groups"
    settings.OIDC_STAFF_VALUES = ["bff-admins"]
    hostile.subject = "hostile-bob"
    hostile.profile = {"email": "bob@hostile.test", "name": "Bob Hostile"}
    bob = new_browser()
    assert sign_in(bob, bff).status_code == 302
    hostile.subject = "hostile-alice"
    hostile.profile = {"email": "alice@hostile.test", "name": "Alice", "groups": ["bff-admins"]}

    blocked: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and blocked.append(m.text))
    page.goto(f"{bff}/admin/")
    page.wait_for_url(f"{bff}/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    expect(page.locator("#user-tools")).to_contain_text("alice@hostile.test")

    page.goto(f"{bff}/admin/accounts/user/")
    page.get_by_role("row", name="bob@hostile.test").get_by_role("checkbox").check()
    page.select_option("select[name=action]", "end_all_sessions")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist")).to_contain_text("Ended 1 session(s) of 1 user(s).")
    assert not TokenSession.objects.live().filter(user__email="bob@hostile.test").exists()
    assert bob.get(f"{bff}/auth/session").status_code == 401
    assert blocked == []


LISTS = ("/admin/accounts/user/", "/admin/bff/tokensession/", "/admin/accounts/auditevent/")


def test_the_admin_lists_fit_a_1280_pixel_screen(hostile, bff, settings, page):
    settings.OIDC_STAFF_CLAIM = "groups"
    settings.OIDC_STAFF_VALUES = ["bff-admins"]
    hostile.profile = {
        "email": "a.rather.long.address.for.a.person@subdomain.example.com",
        "name": "Alice With A Fairly Long Name",
        "groups": ["bff-admins"],
    }
    page.goto(f"{bff}/admin/")
    page.wait_for_url(f"{bff}/admin/")
    for path in LISTS:
        page.goto(f"{bff}{path}")
        expect(page.locator("#result_list")).to_be_visible()
        # The last column ends before the filters begin: nothing hides under them.
        last_column, filters = page.evaluate(
            "() => [[...document.querySelectorAll('#result_list thead th')].pop()"
            ".getBoundingClientRect().right, document.querySelector('#changelist-filter')"
            ".getBoundingClientRect().left]"
        )
        assert last_column <= filters, (path, last_column, filters)
