"""Failed sign-ins are throttled per account and per client IP, before any password check."""

from __future__ import annotations

import time

import requests

from tests.idp.flow import (
    EMAIL,
    PASSWORD,
    password_sign_in,
    signed_in_as,
    unique_email,
)
from tests.support.idp import register
from tests.support.servers import Server

WRONG = "not the password"
DEFAULT_WINDOW = 15 * 60


def assert_throttled(response: requests.Response, window: int = DEFAULT_WINDOW) -> int:
    """Check a 429 answer that says when to come back; return its Retry-After seconds."""
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= window
    assert "Too many failed sign-in attempts" in response.text
    assert "Try again in" in response.text
    assert '<meta name="viewport"' in response.text
    return retry_after


def fail(idp: Server, email: str, times: int) -> None:
    for _ in range(times):
        response = password_sign_in(requests.Session(), idp, email, WRONG)
        assert response.status_code == 200, response.text
        assert "That email and password do not match an account." in response.text


def test_failed_sign_ins_throttle_the_account_whatever_the_letter_case(
    idp_account_throttle: Server,
) -> None:
    idp = idp_account_throttle
    for variant in (EMAIL.upper(), f"  {EMAIL} ", EMAIL.title()):
        fail(idp, variant, 1)
    browser = requests.Session()
    # Even the right password is not checked now.
    assert_throttled(password_sign_in(browser, idp, EMAIL, PASSWORD))
    assert signed_in_as(browser, idp) is None
    assert_throttled(password_sign_in(requests.Session(), idp, f" {EMAIL.upper()} ", PASSWORD))

    # Another account signs in from the same address.
    email = unique_email()
    register(requests.Session(), idp.url, "Grace", email, "grace's long passphrase")
    assert (
        password_sign_in(requests.Session(), idp, email, "grace's long passphrase").status_code
        == 302
    )


def test_unknown_emails_are_throttled_like_accounts(idp_account_throttle: Server) -> None:
    email = unique_email()
    fail(idp_account_throttle, email, 3)
    assert_throttled(password_sign_in(requests.Session(), idp_account_throttle, email, WRONG))


def test_a_successful_sign_in_resets_the_account_counter(idp_account_throttle: Server) -> None:
    idp, email, password = idp_account_throttle, unique_email(), "heidi's long passphrase"
    register(requests.Session(), idp.url, "Heidi", email, password)
    fail(idp, email, 2)
    assert password_sign_in(requests.Session(), idp, email, password).status_code == 302
    fail(idp, email, 2)
    assert password_sign_in(requests.Session(), idp, email, password).status_code == 302
    fail(idp, email, 3)
    assert_throttled(password_sign_in(requests.Session(), idp, email, password))


def test_failed_sign_ins_from_one_ip_are_throttled_across_accounts(idp_ip_throttle: Server) -> None:
    for email in (unique_email(), unique_email(), EMAIL, unique_email()):
        fail(idp_ip_throttle, email, 1)
    assert_throttled(password_sign_in(requests.Session(), idp_ip_throttle, EMAIL, PASSWORD))
    assert_throttled(password_sign_in(requests.Session(), idp_ip_throttle, unique_email(), WRONG))


def test_sign_in_works_again_after_retry_after(idp_short_throttle: Server) -> None:
    idp = idp_short_throttle
    fail(idp, EMAIL, 2)
    retry_after = assert_throttled(password_sign_in(requests.Session(), idp, EMAIL, PASSWORD), 3)
    time.sleep(retry_after)
    assert password_sign_in(requests.Session(), idp, EMAIL, PASSWORD).status_code == 302
