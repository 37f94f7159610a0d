"""Step-up in a real headless Chromium: the items page's vault button, the provider's second
step, and back on the page with the vault open (the live BFF, the built-in provider and the
demo API)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from bff.models import TokenSession
from tests.bff.test_browser_items import open_items_signed_in
from tests.conftest import USER_PASSWORD
from tests.support.browser import chromium_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(monkeypatch) -> Iterator[Page]:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium_page() as page:
        yield page


def test_the_vault_button_steps_up_and_comes_back_with_the_vault_open(wired, page):
    open_items_signed_in(page, wired.bff)
    record = TokenSession.objects.live().get()

    page.get_by_role("button", name="Open the vault").click()

    # api.js follows the step_up_required answer to sign-in, which asks the provider for
    # the stronger level: its second step asks for the password once more.
    page.wait_for_url(re.compile(r".*/accounts/step-up/.*"))
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    page.fill("input[name=password]", USER_PASSWORD)
    page.get_by_role("button", name="Continue").click()

    # Back on the page it started from, which makes the call again by itself.
    page.wait_for_url(f"{wired.bff}/items")
    expect(page.locator("#vault-result")).to_have_text(
        "The vault is open: your sign-in was strong enough. (sign-in level: urn:bff:demo:mfa)"
    )
    expect(page.locator("#items")).to_have_attribute("aria-busy", "false")
    # The same session, with its new tokens; none of them on the page.
    after = TokenSession.objects.get()
    assert after.pk == record.pk and after.is_live and after.version > record.version
    assert after.tokens.access_token not in page.content()
    assert page.evaluate("() => sessionStorage.getItem('bff:vault:pending')") is None

    # Now strong enough: a second click opens the vault without leaving the page.
    page.evaluate("() => { document.getElementById('vault-result').textContent = ''; }")
    page.get_by_role("button", name="Open the vault").click()
    expect(page.locator("#vault-result")).to_contain_text("The vault is open")
    assert page.url == f"{wired.bff}/items"
