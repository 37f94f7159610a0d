"""The built-in provider as a real server for tests, and a scripted browser to sign in there."""

from __future__ import annotations

from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

from tests.support.servers import Server, free_port

MAX_REDIRECTS = 10


def start_idp(
    workdir: Path,
    *,
    client_id: str = "bff-test",
    client_secret: str = "bff-test-secret",
    redirect_uris: list[str],
    post_logout_redirect_uris: Sequence[str] = (),
    user_email: str = "alice@example.com",
    user_password: str = "correct horse battery staple",
    user_name: str = "Alice Example",
    env: dict[str, str] | None = None,
    port: int | None = None,
    workers: int = 1,
) -> Server:
    """Migrate, bootstrap (client + user) and start a provider on http://localhost:<port>.

    Its issuer is http://localhost:<port>/o. Each call needs its own workdir: the database,
    signing key and log live there. The caller stops the server.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    # Chosen before the server exists because the issuer URL must contain it.
    port = port or free_port()
    server = Server(
        name="idp",
        settings_module="idp.settings",
        workdir=workdir,
        host="localhost",
        port=port,
        workers=workers,
        ready_path="/healthz",
        env={
            "IDP_ISSUER": f"http://localhost:{port}/o",
            "IDP_DATABASE_URL": f"sqlite:///{workdir / 'idp.sqlite3'}",
            "IDP_SIGNING_KEY_FILE": str(workdir / "idp-signing-key.pem"),
            "IDP_SECRET_KEY": "idp-test-secret-key-not-for-production-0123456789abcdef",
            "IDP_DEBUG": "false",
            **(env or {}),
        },
    )
    server.manage("migrate", "--noinput")
    args = ["idp_bootstrap", "--client-id", client_id, "--client-secret", client_secret]
    for uri in redirect_uris:
        args += ["--redirect-uri", uri]
    for uri in post_logout_redirect_uris:
        args += ["--post-logout-redirect-uri", uri]
    if user_email:
        args += ["--user-email", user_email, "--user-password", user_password]
        args += ["--user-name", user_name]
    server.manage(*args)
    return server.start()


class _FormParser(HTMLParser):
    """Collects each form's action and the name/value of its input fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append((attributes.get("action", ""), {}))
        elif tag == "input" and self.forms and attributes.get("name"):
            self.forms[-1][1][attributes["name"]] = attributes.get("value", "")


def find_form(page: requests.Response, field: str) -> tuple[str, dict[str, str]]:
    """The absolute action URL and the fields of the first form on the page with this field."""
    parser = _FormParser()
    parser.feed(page.text)
    for action, fields in parser.forms:
        if field in fields:
            return urljoin(page.url, action), fields
    raise AssertionError(
        f"no form with a {field!r} field on {page.url} ({page.status_code}):\n{page.text[:2000]}"
    )


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _follow_on(
    browser: requests.Session, response: requests.Response, origin: tuple[str, str]
) -> requests.Response:
    """Follow redirects while they stay on origin; return the page or the redirect leaving it."""
    for _ in range(MAX_REDIRECTS):
        if not response.is_redirect:
            return response
        target = urljoin(response.url, response.headers["Location"])
        if _origin(target) != origin:
            return response
        response = browser.get(target, allow_redirects=False)
    raise AssertionError(f"too many redirects on the provider, last: {response.url}")


def provider_sign_in(
    browser: requests.Session, authorize_url: str, email: str, password: str
) -> requests.Response:
    """Sign in at the provider like a browser; return its redirect back to the client.

    Starts at the provider's authorize URL, follows the provider's redirects to its login
    page, submits email and password (with the page's CSRF token), follows the provider's
    redirects again and returns the first response whose Location leaves the provider (the
    redirect to the client's redirect_uri) without following it. When the browser already
    has a provider session, that redirect comes without a login page.
    """
    origin = _origin(authorize_url)
    response = _follow_on(browser, browser.get(authorize_url, allow_redirects=False), origin)
    # The sign-in page, then maybe the step-up page (the password again) for acr_values.
    for _ in range(2):
        if response.is_redirect:
            return response
        action, fields = find_form(response, "password")
        fields.update({"email": email, "password": password})
        response = browser.post(
            action, data=fields, headers={"Referer": response.url}, allow_redirects=False
        )
        response = _follow_on(browser, response, origin)
    if not response.is_redirect:
        raise AssertionError(
            f"sign-in did not redirect back to the client ({response.status_code} "
            f"{response.url}):\n{response.text[:2000]}"
        )
    return response


def register(
    browser: requests.Session, idp_url: str, name: str, email: str, password: str
) -> requests.Response:
    """Fill in the provider's registration form; return the POST's response, not followed.

    302 to the sign-in page once the form is valid, whether the email was new (the account
    then exists, not yet signed in) or already had an account (left untouched): the
    provider answers both alike. 200 with the form and its errors otherwise.
    """
    page = browser.get(urljoin(idp_url.rstrip("/") + "/", "accounts/register/"))
    page.raise_for_status()
    action, fields = find_form(page, "password")
    fields.update({"name": name, "email": email, "password": password})
    return browser.post(action, data=fields, headers={"Referer": page.url}, allow_redirects=False)
