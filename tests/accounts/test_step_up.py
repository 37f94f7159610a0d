"""Step-up sign-in against a provider whose ID tokens a test bends (tests/support/
hostile_provider.py): the signed link, the authorization request, the callback's acr and
auth_time checks, and the session that keeps its record with the new tokens."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core import signing

from accounts.models import AuditEvent
from bff import step_up
from bff.models import TokenSession
from tests.accounts.conftest import sign_in, signed_in
from tests.support.hostile_provider import DELETE

pytestmark = pytest.mark.django_db(transaction=True)

MFA = "urn:example:mfa"
PWD = "urn:example:pwd"


def step_up_link(bff: str, next_path: str = "/items", **asked) -> str:
    return bff + step_up.login_url(step_up.StepUp(**asked), next_path)


def session_cookie(browser) -> str:
    return browser.cookies.get("bff_session")


@pytest.fixture
def signed_in_browser(hostile, bff, browser):
    assert sign_in(browser, bff).status_code == 302
    return browser


def start_step_up(browser, link: str):
    """Follow the step-up link to the provider and back; the callback's response."""
    started = browser.get(link, allow_redirects=False)
    assert started.status_code == 302, started.text
    to_callback = browser.get(started.headers["Location"], allow_redirects=False)
    assert to_callback.status_code == 302
    return browser.get(to_callback.headers["Location"], allow_redirects=False)


def test_the_link_asks_the_provider_for_acr_values_and_max_age(hostile, bff, signed_in_browser):
    link = step_up_link(bff, acr_values=(MFA, PWD), max_age=300)
    started = signed_in_browser.get(link, allow_redirects=False)
    assert started.status_code == 302
    assert started.headers["Location"].startswith(hostile.endpoint("authorize"))
    asked = {k: v[0] for k, v in parse_qs(urlsplit(started.headers["Location"]).query).items()}
    assert asked["acr_values"] == f"{MFA} {PWD}"
    assert asked["max_age"] == "300"


def test_a_satisfied_step_up_keeps_the_record_with_new_tokens(hostile, bff, signed_in_browser):
    before = TokenSession.objects.live().get()
    old_tokens = before.tokens
    old_cookie = session_cookie(signed_in_browser)
    hostile.mutate_id_token(acr=MFA, auth_time=int(time.time()))

    done = start_step_up(signed_in_browser, step_up_link(bff, acr_values=(MFA,), max_age=60))

    assert done.status_code == 302
    assert done.headers["Location"] == "/items"
    after = TokenSession.objects.get()  # still the one record: none started, none ended
    assert after.pk == before.pk and after.is_live
    assert after.version == before.version + 1
    assert after.tokens.access_token == hostile.issued[-1]["access_token"]
    assert after.tokens.access_token != old_tokens.access_token
    assert after.tokens.refresh_token == hostile.issued[-1]["refresh_token"]
    # The replaced grant's refresh token was revoked at the provider.
    assert [r.get("token") for r in hostile.revoked] == [old_tokens.refresh_token]
    assert session_cookie(signed_in_browser) != old_cookie  # a new key for a stronger session
    assert signed_in(signed_in_browser, bff)
    row = AuditEvent.objects.get(kind=AuditEvent.Kind.STEP_UP)
    assert row.reason == f"acr={MFA}"
    assert row.user == after.user
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGN_IN_FAILED).exists()


@pytest.mark.parametrize(
    ("asked", "claims", "reason"),
    [
        ({"acr_values": (MFA,)}, {"acr": PWD}, "step_up:acr_not_requested"),
        ({"acr_values": (MFA,)}, {"acr": DELETE}, "step_up:acr_missing"),
        ({"acr_values": (MFA,)}, {"acr": ["urn:example:mfa"]}, "step_up:acr_missing"),
        ({"max_age": 60}, {"auth_time": DELETE}, "step_up:auth_time_missing"),
        ({"max_age": 60}, {"auth_time": "now"}, "step_up:auth_time_missing"),
        ({"max_age": 60}, {"auth_time": int(time.time()) - 3600}, "step_up:auth_time_too_old"),
        ({"acr_values": (MFA,), "max_age": 0}, {"acr": MFA}, None),  # auth_time now: ok
    ],
)
def test_the_callback_checks_acr_and_auth_time(
    hostile, bff, signed_in_browser, asked, claims, reason
):
    before = TokenSession.objects.live().get()
    hostile.mutate_id_token(**claims)

    done = start_step_up(signed_in_browser, step_up_link(bff, **asked))

    after = TokenSession.objects.get()
    if reason is None:
        assert done.status_code == 302
        assert after.version == before.version + 1
        return
    assert done.status_code == 403
    assert "did not reach the required level" in done.text
    assert f"<code>{reason}</code>" in done.text
    for issued in hostile.issued:
        assert issued["access_token"] not in done.text
    # Nothing changed: the same record, its old tokens, still signed in.
    assert after.pk == before.pk and after.is_live and after.version == before.version
    assert after.tokens.access_token == before.tokens.access_token
    assert signed_in(signed_in_browser, bff)
    assert [r.get("token") for r in hostile.revoked] == [hostile.issued[-1]["refresh_token"]]
    assert reason in AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGN_IN_FAILED).values_list(
        "reason", flat=True
    )
    # The way back leads to the page, not round to the provider again.
    back = re.search(r'<a class="button" href="([^"]+)">Go back</a>', done.text).group(1)
    authorize_calls = hostile.calls["authorize"]
    returned = signed_in_browser.get(bff + back.replace("&amp;", "&"), allow_redirects=False)
    assert returned.status_code == 302
    assert returned.headers["Location"] == "/items"
    assert hostile.calls["authorize"] == authorize_calls


def test_a_step_up_as_another_account_is_refused(hostile, bff, signed_in_browser):
    before = TokenSession.objects.live().get()
    hostile.subject = "hostile-mallory"
    hostile.mutate_id_token(acr=MFA)

    done = start_step_up(signed_in_browser, step_up_link(bff, acr_values=(MFA,)))

    assert done.status_code == 403
    assert "different account" in done.text
    after = TokenSession.objects.get(pk=before.pk)
    assert after.is_live and after.version == before.version
    assert after.tokens.access_token == before.tokens.access_token
    assert TokenSession.objects.count() == 1
    assert "step_up:other_account" in AuditEvent.objects.values_list("reason", flat=True)
    # The other account's new grant was given back at once.
    assert [r.get("token") for r in hostile.revoked] == [hostile.issued[-1]["refresh_token"]]
    assert signed_in(signed_in_browser, bff)


def tampered(link: str) -> str:
    """The link with one character of its signed value's signature changed."""
    value = parse_qs(urlsplit(link).query)[step_up.PARAM][0]
    changed = value[:-3] + ("A" if value[-3] != "A" else "B") + value[-2:]
    return link.split("?")[0] + "?" + urlencode({"next": "/", step_up.PARAM: changed})


@pytest.mark.parametrize(
    "make_link",
    [
        lambda bff: tampered(step_up_link(bff, acr_values=(MFA,))),
        # Signed, but not by us for this purpose (another salt): an arbitrary request.
        lambda bff: (
            f"{bff}/auth/login?next=/&step_up="
            + signing.dumps({"acr_values": "urn:evil"}, salt="accounts.login_state")
        ),
        lambda bff: f"{bff}/auth/login?next=/&step_up=",
        lambda bff: f"{bff}/auth/login?next=/&step_up=" + "x" * 5000,
    ],
)
def test_a_tampered_or_foreign_link_starts_nothing(hostile, bff, signed_in_browser, make_link):
    response = signed_in_browser.get(make_link(bff), allow_redirects=False)
    assert response.status_code == 400
    assert "expired or is not valid" in response.text
    assert hostile.calls["authorize"] == 1  # only the first sign-in's


def test_an_expired_link_starts_nothing(hostile, bff, signed_in_browser, settings):
    link = step_up_link(bff, acr_values=(MFA,))
    settings.BFF_STEP_UP_LINK_SECONDS = -1
    assert signed_in_browser.get(link, allow_redirects=False).status_code == 400


def test_authorize_parameters_in_the_login_url_are_not_passed_on(hostile, bff, browser):
    started = browser.get(
        f"{bff}/auth/login?next=/&acr_values=urn:evil&max_age=0&prompt=none&again=1",
        allow_redirects=False,
    )
    asked = parse_qs(urlsplit(started.headers["Location"]).query)
    assert "acr_values" not in asked and "max_age" not in asked and "prompt" not in asked


def test_a_signed_link_with_malformed_values_is_refused(hostile, bff, signed_in_browser):
    forged = signing.dumps({"acr_values": "urn:x&prompt=none"}, salt=step_up.SALT)
    response = signed_in_browser.get(f"{bff}/auth/login?next=/&step_up={forged}")
    assert response.status_code == 400
