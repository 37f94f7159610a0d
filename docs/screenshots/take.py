"""Screenshots of the pages a person sees, on a desktop (1280x800) and a phone (375x740).

    .venv/bin/python docs/screenshots/take.py

It starts its own built-in provider, demo API and BFF (gunicorn on free ports, SQLite in a
temporary directory) with the test suite's support code, so nothing else needs to run and
nothing of `make run` is touched. The BFF gets two sign-in providers (both the built-in one),
so the provider chooser shows. It drives Debian's Chromium (/usr/bin/chromium) like the
browser tests, writes `<desktop|phone>-<page>.png` next to this file (whole pages: as wide
as the screen, as tall as the page) and takes about half a minute.
"""

from __future__ import annotations

import re
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from tests.support.bff import start_bff  # noqa: E402
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, PHONE  # noqa: E402
from tests.support.demo import start_demo  # noqa: E402
from tests.support.idp import start_idp  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

OUT = Path(__file__).resolve().parent
EMAIL = "alice@example.com"
PASSWORD = "correct horse battery staple"
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
# The second device of the story, so the sessions page names two kinds of browser.
OTHER_DEVICE = "Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0"


def shoot(page: Page, kind: str, name: str) -> None:
    path = OUT / f"{kind}-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"  {path.relative_to(ROOT)}")


def sign_in(page: Page, bff: str, path: str, *, kind: str = "", chooser: bool = False) -> None:
    """Open `path`, pick the built-in provider on the chooser, sign in there."""
    page.goto(f"{bff}{path}")
    page.wait_for_url(re.compile(r".*/auth/login\?.*"))
    if chooser:
        shoot(page, kind, "provider-chooser")
    page.get_by_role("link", name="Sign in with Built-in provider").click()
    page.wait_for_url(re.compile(r".*/accounts/login/.*"))
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{bff}{path}")


def story(
    browser: Browser, bff: str, kind: str, options: dict, grant_admin: Callable[[], None]
) -> None:
    """One pass through the pages in one screen size."""
    me = browser.new_context(**options)
    other = browser.new_context(**{**options, "user_agent": OTHER_DEVICE})
    try:
        page = me.new_page()
        sign_in(page, bff, "/", kind=kind, chooser=True)
        expect(page.locator(".private")).to_be_visible()
        shoot(page, kind, "dashboard")

        grant_admin()  # the person is made staff, as `manage.py grant_admin` does it
        page.goto(f"{bff}/admin/bff/tokensession/")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        shoot(page, kind, "admin-sessions")
        page.goto(f"{bff}/admin/accounts/user/")
        shoot(page, kind, "admin-users")
        page.goto(f"{bff}/admin/accounts/auditevent/")
        shoot(page, kind, "admin-audit")

        page.goto(f"{bff}/items")
        expect(page.locator("#items")).to_have_attribute("aria-busy", "false")
        if not page.locator("#items li").count():
            for name in ("Milk", "Water the plants", "Call the plumber"):
                page.fill("#item-name", name)
                page.click("#add-item button[type=submit]")
                expect(page.locator("#status")).to_have_text(f"Added “{name}”.")
        shoot(page, kind, "items")

        # The other device opens /items and starts typing; from here its session is ended.
        phone = other.new_page()
        sign_in(phone, bff, "/items")
        phone.fill("#item-name", f"Buy stamps {uuid.uuid4().hex[:4]}")

        page.goto(f"{bff}/auth/sessions")
        row = page.locator("tr", has_text="Firefox")
        row.locator("summary").click()
        expect(row.get_by_role("button", name="End session", exact=True)).to_be_visible()
        shoot(page, kind, "sessions-confirm")
        row.get_by_role("button", name="End session", exact=True).click()
        expect(page.locator(".messages")).to_be_visible()
        shoot(page, kind, "sessions-message")

        phone.click("#add-item button[type=submit]")
        expect(phone.get_by_role("link", name="Sign in again")).to_be_visible()
        shoot(phone, kind, "items-session-ended")
        phone.get_by_role("link", name="Sign in again").click()
        phone.wait_for_url(re.compile(r".*/auth/ended\?.*"))
        shoot(phone, kind, "session-ended")

        page.goto(f"{bff}/auth/logout?next=/auth/sessions")
        shoot(page, kind, "sign-out-confirm")
        page.get_by_role("button", name="Sign out", exact=True).last.click()
        # The built-in provider asks too (its own page), then comes back.
        page.wait_for_url(re.compile(r".*/o/logout/.*"))
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(re.compile(r".*/auth/signed-out$"))
        shoot(page, kind, "signed-out")
    finally:
        me.close()
        other.close()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bff-screenshots-") as tmp:
        work = Path(tmp)
        bff_port = free_port()
        bff_url = f"http://127.0.0.1:{bff_port}"
        servers = []
        try:
            idp = start_idp(
                work / "idp",
                redirect_uris=[f"{bff_url}/auth/callback/oidc"],
                post_logout_redirect_uris=[f"{bff_url}/auth/signed-out"],
                user_email=EMAIL,
                user_password=PASSWORD,
            )
            servers.append(idp)
            issuer = f"{idp.url}/o"
            demo = start_demo(work / "demo", issuer=issuer)
            servers.append(demo)
            provider = {
                "ISSUER": issuer,
                "CLIENT_ID": "bff-test",
                "CLIENT_SECRET": "bff-test-secret",
            }
            env = {"OIDC_PROVIDERS": "oidc,partner"}
            for prefix, label in (
                ("OIDC_OIDC_", "Built-in provider"),
                ("OIDC_PARTNER_", "Partner"),
            ):
                env.update({prefix + key: value for key, value in provider.items()})
                env[prefix + "DISPLAY_NAME"] = label
            bff = start_bff(
                work / "bff",
                port=bff_port,
                database_url=f"sqlite:///{work / 'bff.sqlite3'}",
                issuer=issuer,
                upstreams={"graphql": f"{demo.url}/graphql", "demo": f"{demo.url}/rest"},
                migrate=True,
                env=env,
            )
            servers.append(bff)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    for kind, options in (("desktop", DESKTOP), ("phone", PHONE)):
                        print(kind)
                        story(
                            browser,
                            bff_url,
                            kind,
                            options,
                            lambda: bff.manage("grant_admin", EMAIL),
                        )
                finally:
                    browser.close()
        finally:
            for server in reversed(servers):
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
