"""Who may open /admin/, and how they sign in: the provider's sign-in (no second password),
rights from a claim (granted and withdrawn at every sign-in) or from `grant_admin`."""

from __future__ import annotations

import re
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditEvent, Identity, RightSource, User
from accounts.roles import claim_values, rights_from_claims
from bff.models import TokenSession
from tests.accounts.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

Kind = AuditEvent.Kind


def rights_audited() -> list[str]:
    """The reasons of the admin-rights audit rows, oldest first."""
    return list(
        AuditEvent.objects.filter(kind=Kind.ADMIN_RIGHTS)
        .order_by("created_at", "pk")
        .values_list("reason", flat=True)
    )


@pytest.fixture
def groups_claim(settings):
    """The claim mapping on: "groups" with bff-admins (staff) and bff-root (superuser)."""
    settings.OIDC_STAFF_CLAIM = "groups"
    settings.OIDC_STAFF_VALUES = "bff-admins, helpdesk"
    settings.OIDC_SUPERUSER_VALUES = ["bff-root"]
    return settings


def sign_in_with(hostile, bff, browser, **claims) -> User:
    """Sign in as alice with these extra claims in the ID token; returns her user, fresh."""
    hostile.profile = {"email": "alice@hostile.test", "name": "Alice Hostile", **claims}
    assert sign_in(browser, bff).status_code == 302
    return Identity.objects.get(subject=hostile.subject).user


def alice() -> User:
    return Identity.objects.get(subject="hostile-alice").user


def rights(user: User) -> tuple[bool, str, bool, str]:
    user.refresh_from_db()
    return user.is_staff, user.staff_source, user.is_superuser, user.superuser_source


def csrf_of(text: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text)
    assert match, "the page has no form"
    return match.group(1)


# --- /admin/ signs in through the provider ---------------------------------------------------


def test_admin_sends_an_anonymous_visitor_to_the_provider_sign_in(hostile, bff, browser):
    first = browser.get(f"{bff}/admin/", allow_redirects=False)
    assert first.status_code == 302
    assert first.headers["Location"] == "/admin/login/?next=/admin/"
    login = browser.get(f"{bff}/admin/login/?next=/admin/", allow_redirects=False)
    assert login.status_code == 302
    assert login.headers["Location"] == "/auth/login?next=%2Fadmin%2F"
    deeper = browser.get(f"{bff}/admin/bff/tokensession/?status=live", allow_redirects=False)
    assert deeper.status_code == 302
    # The admin's model pages are sent to sign-in by LoginRequiredMiddleware directly.
    assert deeper.headers["Location"] == "/auth/login?next=/admin/bff/tokensession/%3Fstatus%3Dlive"
    # An address elsewhere is never where the sign-in returns.
    evil = browser.get(f"{bff}/admin/login/?next=https://evil.example/", allow_redirects=False)
    assert evil.headers["Location"] == "/auth/login?next=%2F"


def test_staff_signs_in_at_the_provider_and_lands_in_the_admin(hostile, bff, browser, groups_claim):
    hostile.profile = {**hostile.profile, "groups": ["staff-of-nothing", "bff-admins"]}
    landed = browser.get(f"{bff}/admin/")  # every redirect followed: admin, provider, back
    assert landed.status_code == 200
    assert urlsplit(landed.url).path == "/admin/"
    assert "Site administration" in landed.text
    assert "alice@hostile.test" in landed.text
    assert [urlsplit(r.url).path for r in landed.history] == [
        "/admin/",
        "/admin/login/",
        "/auth/login",
        "/authorize",
        "/auth/callback/hostile",
    ]
    assert "password" not in landed.text.lower()
    assert rights(alice()) == (True, RightSource.CLAIM, False, "")


def test_a_signed_in_user_without_rights_gets_a_403_page_not_a_loop(hostile, bff, browser):
    assert sign_in(browser, bff).status_code == 302
    response = browser.get(f"{bff}/admin/")
    assert response.status_code == 403
    assert len(response.history) <= 2
    assert "No admin rights" in response.text
    assert "alice@hostile.test" in response.text
    assert "grant_admin" in response.text
    assert browser.get(f"{bff}/admin/bff/tokensession/").status_code == 403
    assert hostile.calls["authorize"] == 1  # never sent round to the provider again


def test_admin_password_form_only_when_a_setting_allows_it(hostile, bff, browser, settings):
    User.objects.create_superuser("root", "root@example.com", "pw-for-the-test")
    refused = browser.post(
        f"{bff}/admin/login/",
        data={"username": "root", "password": "pw-for-the-test"},
        allow_redirects=False,
    )
    assert refused.status_code == 403  # no form was ever given: no CSRF token, no sign-in
    assert browser.get(f"{bff}/admin/login/", allow_redirects=False).status_code == 302

    settings.ACCOUNTS_ADMIN_PASSWORD_LOGIN = True
    form = browser.get(f"{bff}/admin/login/?next=/admin/")
    assert form.status_code == 200
    assert 'name="password"' in form.text
    signed = browser.post(
        f"{bff}/admin/login/?next=/admin/",
        data={
            "username": "root",
            "password": "pw-for-the-test",
            "csrfmiddlewaretoken": csrf_of(form.text),
            "next": "/admin/",
        },
    )
    assert signed.status_code == 200
    assert "Site administration" in signed.text


def test_admin_log_out_ends_the_session_and_revokes_it(hostile, bff, browser, groups_claim):
    hostile.profile = {**hostile.profile, "groups": ["bff-admins"]}
    index = browser.get(f"{bff}/admin/")
    assert index.status_code == 200
    record = TokenSession.objects.live().get()
    out = browser.post(
        f"{bff}/admin/logout/",
        data={"csrfmiddlewaretoken": csrf_of(index.text)},
        allow_redirects=False,
    )
    assert out.status_code == 302
    record.refresh_from_db()
    assert record.end_reason == TokenSession.EndReason.LOGOUT
    assert [r["token"] for r in hostile.revoked] == [record.tokens.refresh_token]
    assert browser.get(f"{bff}/auth/session").status_code == 401


# --- rights from the provider's claim --------------------------------------------------------


def test_the_claim_grants_and_withdraws_staff_at_every_sign_in(
    hostile, bff, new_browser, groups_claim
):
    user = sign_in_with(hostile, bff, new_browser(), groups=["bff-admins"])
    assert rights(user) == (True, RightSource.CLAIM, False, "")
    user = sign_in_with(hostile, bff, new_browser(), groups=["bff-root"])
    assert rights(user) == (True, RightSource.CLAIM, True, RightSource.CLAIM)
    user = sign_in_with(hostile, bff, new_browser(), groups=["helpdesk"])
    assert rights(user) == (True, RightSource.CLAIM, False, "")
    user = sign_in_with(hostile, bff, new_browser(), groups=["somebody-else"])
    assert rights(user) == (False, "", False, "")
    user = sign_in_with(hostile, bff, new_browser(), groups="bff-admins")  # one string
    assert rights(user) == (True, RightSource.CLAIM, False, "")
    user = sign_in_with(hostile, bff, new_browser())  # the claim is gone altogether
    assert rights(user) == (False, "", False, "")

    assert rights_audited() == [
        "staff granted (claim groups)",
        "superuser granted (claim groups)",
        "superuser withdrawn (claim groups)",
        "staff withdrawn (claim groups)",
        "staff granted (claim groups)",
        "staff withdrawn (claim groups)",
    ]


def test_a_staff_user_whose_claim_is_withdrawn_is_refused_at_the_next_sign_in(
    hostile, bff, new_browser, groups_claim
):
    hostile.profile = {**hostile.profile, "groups": ["bff-admins"]}
    assert new_browser().get(f"{bff}/admin/").status_code == 200
    hostile.profile = {**hostile.profile, "groups": []}
    assert new_browser().get(f"{bff}/admin/").status_code == 403


def test_the_claim_never_withdraws_rights_given_by_hand(hostile, bff, new_browser, groups_claim):
    user = sign_in_with(hostile, bff, new_browser())
    call_command("grant_admin", "alice@hostile.test", stdout=StringIO())
    assert rights(user) == (True, RightSource.COMMAND, False, "")
    user = sign_in_with(hostile, bff, new_browser(), groups=["nothing"])
    assert rights(user) == (True, RightSource.COMMAND, False, "")
    # A right the claim granted, then given by the command, is the command's.
    user = sign_in_with(hostile, bff, new_browser(), groups=["bff-root"])
    assert rights(user) == (True, RightSource.COMMAND, True, RightSource.CLAIM)
    call_command("grant_admin", "hostile-alice", "--superuser", stdout=StringIO())
    user = sign_in_with(hostile, bff, new_browser())
    assert rights(user) == (True, RightSource.COMMAND, True, RightSource.COMMAND)
    # So is one from createsuperuser or the admin page (no source recorded).
    User.objects.filter(pk=user.pk).update(staff_source="", superuser_source="")
    user = sign_in_with(hostile, bff, new_browser())
    assert rights(user) == (True, "", True, "")


def test_the_claim_mapping_is_off_by_default(hostile, bff, new_browser):
    user = sign_in_with(hostile, bff, new_browser(), groups=["bff-admins"], roles=["admin"])
    assert rights(user) == (False, "", False, "")
    User.objects.filter(pk=user.pk).update(is_staff=True)
    user = sign_in_with(hostile, bff, new_browser())
    assert rights(user) == (True, "", False, "")
    assert not AuditEvent.objects.filter(kind=Kind.ADMIN_RIGHTS).exists()


def test_only_the_named_providers_claims_are_believed(hostile, bff, new_browser, groups_claim):
    groups_claim.OIDC_STAFF_PROVIDERS = ["corp"]
    user = sign_in_with(hostile, bff, new_browser(), groups=["bff-root"])
    assert rights(user) == (False, "", False, "")
    groups_claim.OIDC_STAFF_PROVIDERS = "corp,hostile"
    user = sign_in_with(hostile, bff, new_browser(), groups=["bff-root"])
    assert rights(user) == (True, RightSource.CLAIM, True, RightSource.CLAIM)


def test_rights_read_from_a_claim_changed_in_the_id_token(hostile, bff, new_browser, settings):
    settings.OIDC_STAFF_CLAIM = "realm_access.roles"
    settings.OIDC_STAFF_VALUES = ["bff-admin"]
    hostile.mutate_id_token(realm_access={"roles": ["offline_access", "bff-admin"]})
    assert sign_in(new_browser(), bff).status_code == 302
    assert rights(alice()) == (True, RightSource.CLAIM, False, "")


@pytest.mark.parametrize(
    ("claim", "claims", "values"),
    [
        ("groups", {"groups": ["a", "b"]}, {"a", "b"}),
        ("groups", {"groups": "a"}, {"a"}),
        ("groups", {"groups": ["a", 7, True, None, {"x": 1}]}, {"a", "7"}),
        ("groups", {}, set()),
        ("groups", {"groups": {"a": True}}, set()),
        ("realm_access.roles", {"realm_access": {"roles": ["admin"]}}, {"admin"}),
        ("realm_access.roles", {"realm_access": ["admin"]}, set()),
        ("https://example.com/roles", {"https://example.com/roles": ["admin"]}, {"admin"}),
    ],
)
def test_claim_values(claim, claims, values):
    assert claim_values(claims, claim) == values


def test_no_claim_setting_means_no_decision(settings):
    settings.OIDC_STAFF_VALUES = ["bff-admins"]
    assert rights_from_claims("hostile", {"groups": ["bff-admins"]}) is None


# --- manage.py grant_admin -------------------------------------------------------------------


def grant_admin(*args: str) -> str:
    out = StringIO()
    call_command("grant_admin", *args, stdout=out)
    return out.getvalue()


def test_grant_admin_by_email_or_subject(hostile, bff, new_browser):
    user = sign_in_with(hostile, bff, new_browser())
    assert grant_admin("Alice@Hostile.test") == "alice@hostile.test: staff granted.\n"
    assert rights(user) == (True, RightSource.COMMAND, False, "")
    assert grant_admin("hostile-alice", "--superuser") == (
        "alice@hostile.test: superuser granted.\n"
    )
    assert rights(user) == (True, RightSource.COMMAND, True, RightSource.COMMAND)
    assert grant_admin("hostile-alice", "--superuser") == "alice@hostile.test: nothing to change.\n"
    grant_admin("alice@hostile.test", "--revoke", "--superuser")
    assert rights(user) == (True, RightSource.COMMAND, False, "")
    grant_admin("alice@hostile.test", "--revoke")
    assert rights(user) == (False, "", False, "")
    assert rights_audited() == [
        "staff granted (grant_admin command)",
        "superuser granted (grant_admin command)",
        "superuser withdrawn (grant_admin command)",
        "staff withdrawn (grant_admin command)",
    ]
    # Granted, the user opens the admin at once (the right is read on every request).
    browser = new_browser()
    assert sign_in(browser, bff).status_code == 302
    assert browser.get(f"{bff}/admin/").status_code == 403
    grant_admin("alice@hostile.test")
    assert browser.get(f"{bff}/admin/").status_code == 200


def test_grant_admin_explains_who_it_cannot_find(hostile, bff, new_browser):
    with pytest.raises(CommandError, match="sign in once"):
        grant_admin("nobody@example.com")
    sign_in_with(hostile, bff, new_browser())
    hostile.subject = "hostile-alice-at-work"
    sign_in_with(hostile, bff, new_browser())  # the same email, another identity
    with pytest.raises(CommandError, match="names 2 users.*hostile-alice-at-work"):
        grant_admin("alice@hostile.test")
    grant_admin("hostile-alice-at-work")
    assert Identity.objects.get(subject="hostile-alice-at-work").user.is_staff
    assert not Identity.objects.get(subject="hostile-alice").user.is_staff
