"""Registration, sign-in and sign-out pages."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import requests

from tests.idp.flow import (
    EMAIL,
    NAME,
    PASSWORD,
    REDIRECT_URI,
    Client,
    password_sign_in,
    pkce_pair,
    query_params,
    signed_in_as,
    unique_email,
)
from tests.support.idp import find_form, register
from tests.support.servers import Server

READY = "If this email can be used, your account is ready"


def test_register_creates_an_account_that_can_sign_in(idp: Server) -> None:
    browser = requests.Session()
    email = unique_email()
    response = register(browser, idp.url, "Bob Builder", email, "a long enough passphrase")
    assert response.status_code == 302, response.text
    page = browser.get(urljoin(response.url, response.headers["Location"]), timeout=10)
    assert READY in page.text
    assert password_sign_in(browser, idp, email, "a long enough passphrase").status_code == 302
    assert signed_in_as(browser, idp) == "Bob Builder"


def test_register_answers_a_taken_email_as_it_answers_a_new_one(idp: Server) -> None:
    new = register(requests.Session(), idp.url, "Frank", unique_email(), "a long passphrase")
    for taken in (EMAIL, EMAIL.upper(), f"  {EMAIL.title()} "):
        response = register(requests.Session(), idp.url, "Mallory", taken, "another passphrase")
        assert response.status_code == new.status_code, response.text
        assert response.headers.get("Location") == new.headers.get("Location")
        assert response.text == new.text
        assert sorted(response.cookies.keys()) == sorted(new.cookies.keys())
        assert "already exists" not in response.text


def test_register_with_a_taken_email_leaves_the_account_alone(idp: Server) -> None:
    visitor = requests.Session()
    register(visitor, idp.url, "Mallory", f" {EMAIL.upper()}", "mallory's own passphrase")
    assert signed_in_as(visitor, idp) is None
    rejected = password_sign_in(requests.Session(), idp, EMAIL, "mallory's own passphrase")
    assert rejected.status_code == 200
    owner = requests.Session()
    assert password_sign_in(owner, idp, EMAIL, PASSWORD).status_code == 302
    assert signed_in_as(owner, idp) == NAME


def test_register_validates_the_password(idp: Server) -> None:
    browser = requests.Session()
    email = unique_email()
    response = register(browser, idp.url, "Carol", email, "12345678")
    assert response.status_code == 200
    assert "This password is too common." in response.text
    assert "This password is entirely numeric." in response.text
    # Nothing was created: the address is still free.
    assert register(browser, idp.url, "Carol", email, "a long enough passphrase").status_code == 302


def test_registered_person_can_sign_in_through_the_code_flow(idp: Server) -> None:
    email, password = unique_email(), "yet another passphrase"
    assert register(requests.Session(), idp.url, "Dan", email, password).status_code == 302
    client = Client(idp)
    browser = requests.Session()
    assert password_sign_in(browser, idp, email, password).status_code == 302
    tokens = client.sign_in(browser)
    assert client.verify_access_token(tokens["access_token"])["email"] == email


def test_register_page_is_accessible_html(idp: Server) -> None:
    page = requests.get(f"{idp.url}/accounts/register/", timeout=10).text
    for field in ("name", "email", "password"):
        assert f'<label for="id_{field}">' in page
        assert f'id="id_{field}"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert '<button type="submit">' in page
    assert 'name="viewport"' in page


def test_login_page_has_email_and_password_fields(idp: Server) -> None:
    page = requests.get(f"{idp.url}/accounts/login/?next=/", timeout=10)
    _action, fields = find_form(page, "password")
    assert {"email", "password", "csrfmiddlewaretoken", "next"} <= set(fields)
    assert '<label for="id_email">' in page.text
    assert '<label for="id_password">' in page.text


def test_wrong_password_is_rejected_with_a_message(idp: Server) -> None:
    browser = requests.Session()
    response = password_sign_in(browser, idp, EMAIL, "wrong password")
    assert response.status_code == 200
    assert "That email and password do not match an account." in response.text
    assert signed_in_as(browser, idp) is None


def test_login_follows_a_local_next_but_not_a_foreign_one(idp: Server) -> None:
    for next_url, expected in (
        ("/o/.well-known/jwks.json", "/o/.well-known/jwks.json"),
        ("http://evil.example/", "/"),
    ):
        browser = requests.Session()
        page = browser.get(f"{idp.url}/accounts/login/", params={"next": next_url}, timeout=10)
        action, fields = find_form(page, "password")
        fields.update({"email": EMAIL, "password": PASSWORD})
        response = browser.post(action, data=fields, allow_redirects=False)
        assert response.status_code == 302
        assert response.headers["Location"] == expected


def test_login_without_csrf_token_is_refused(idp: Server) -> None:
    browser = requests.Session()
    browser.get(f"{idp.url}/accounts/login/", timeout=10)
    response = browser.post(
        f"{idp.url}/accounts/login/",
        data={"email": EMAIL, "password": PASSWORD},
        allow_redirects=False,
    )
    assert response.status_code == 403


def test_logout_is_post_only_and_ends_the_provider_session(idp: Server) -> None:
    browser = requests.Session()
    password_sign_in(browser, idp, EMAIL, PASSWORD)
    assert signed_in_as(browser, idp) == NAME

    assert browser.get(f"{idp.url}/accounts/logout/", allow_redirects=False).status_code == 405
    home = browser.get(f"{idp.url}/", timeout=10)
    action, fields = find_form(home, "csrfmiddlewaretoken")
    response = browser.post(action, data=fields, allow_redirects=False)
    assert response.status_code == 302
    assert signed_in_as(browser, idp) is None


def test_prompt_create_registers_then_signs_in_and_continues(fresh_client: Client) -> None:
    client, browser = fresh_client, fresh_client.browser
    _verifier, challenge = pkce_pair()
    url = client.authorize_url(
        prompt="create", code_challenge=challenge, code_challenge_method="S256", state="s"
    )
    response = browser.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/register/?next=")

    page = browser.get(urljoin(url, response.headers["Location"]), timeout=10)
    action, fields = find_form(page, "password")
    email = unique_email()
    fields.update({"name": "Erin", "email": email, "password": "a fine long passphrase"})
    response = browser.post(action, data=fields, allow_redirects=False)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/accounts/login/"

    # The new account signs in like any other; `next` carries the flow through.
    page = browser.get(urljoin(url, response.headers["Location"]), timeout=10)
    assert READY in page.text
    action, fields = find_form(page, "password")
    fields.update({"email": email, "password": "a fine long passphrase"})
    response = browser.post(action, data=fields, allow_redirects=False)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/o/authorize/"

    response = browser.get(urljoin(url, response.headers["Location"]), allow_redirects=False)
    assert response.headers["Location"].startswith(REDIRECT_URI + "?")
    assert "code" in query_params(response.headers["Location"])


def test_prompt_none_without_a_session_answers_login_required(fresh_client: Client) -> None:
    _verifier, challenge = pkce_pair()
    url = fresh_client.authorize_url(
        prompt="none", code_challenge=challenge, code_challenge_method="S256", state="s"
    )
    response = requests.get(url, allow_redirects=False, timeout=10)
    callback = query_params(response.headers["Location"])
    assert callback["error"] == "login_required"
    assert callback["iss"] == fresh_client.issuer


def test_prompt_none_with_a_session_signs_in_silently(client: Client) -> None:
    client.sign_in()  # the shared browser has a provider session now
    _verifier, challenge = pkce_pair()
    url = client.authorize_url(
        prompt="none", code_challenge=challenge, code_challenge_method="S256", state="s"
    )
    response = client.browser.get(url, allow_redirects=False, timeout=10)
    callback = query_params(response.headers["Location"])
    assert "code" in callback, callback
    assert callback["iss"] == client.issuer
