"""Debian's Chromium driven by Playwright, for the browser tests (no browser download)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}


@contextmanager
def chromium_page(**context_options: Any) -> Iterator[Page]:
    """A page in a fresh headless Chromium context (own cookies), closed afterwards."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(**context_options)
        context.set_default_timeout(15_000)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def open_signed_in(page: Page, bff: str, path: str, email: str, password: str) -> None:
    """Open `path`, signing in on the built-in provider's page on the way."""
    page.goto(f"{bff}{path}")
    page.wait_for_url(re.compile(r".*/accounts/login/.*"))
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{bff}{path}")
