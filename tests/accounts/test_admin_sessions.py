"""The admin is safe: sessions are ended (revoked, audited), never deleted; the audit log
only grows; users read as people, with their sessions on their page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from accounts.models import AuditEvent, AuditLogIsAppendOnly, Identity, User
from bff.models import SessionsAreEndedNotDeleted, TokenSession
from tests.accounts.conftest import sign_in, signed_in

pytestmark = pytest.mark.django_db(transaction=True)

Kind = AuditEvent.Kind
Reason = TokenSession.EndReason
PASSWORD_BACKEND = "django.contrib.auth.backends.ModelBackend"


def admin_client(user: User, **options) -> Client:
    client = Client(**options)
    client.force_login(user, backend=PASSWORD_BACKEND)
    return client


@pytest.fixture
def root() -> User:
    return User.objects.create_superuser("root", "root@example.com", "pw-for-the-test")


@pytest.fixture
def root_client(root) -> Client:
    return admin_client(root)


def signed_in_as(hostile, bff, new_browser, subject="hostile-alice", email="alice@hostile.test"):
    """A new browser signed in at the hostile provider as `subject`; (browser, record)."""
    hostile.subject = subject
    hostile.profile = {"email": email, "name": subject.replace("hostile-", "").title()}
    browser = new_browser()
    assert sign_in(browser, bff).status_code == 302
    return browser, TokenSession.objects.get(sid=hostile.issued[-1]["sid"])


def csrf_of(page) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert match, "the page has no form"
    return match.group(1)


def text_of(response) -> str:
    """The page as a person reads it (long emails carry <wbr> break hints in lists)."""
    return response.content.decode().replace("<wbr>", "")


def no_token_in(text: str, hostile) -> None:
    for issued in hostile.issued:
        for name in ("access_token", "refresh_token", "id_token"):
            assert issued[name] not in text


class FormValues(HTMLParser):
    """What a browser would post from a page's forms: inputs, checked boxes, selections."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, list[str]] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.values.setdefault(name, []).append(a.get("value") or "on")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.values.setdefault(self._select, []).append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def form_values(html: str) -> dict[str, list[str]]:
    parser = FormValues()
    parser.feed(html)
    return parser.values


def session_url(record: TokenSession, view: str = "") -> str:
    return f"/admin/bff/tokensession/{record.pk}/{view}"


# --- sessions are never deleted ------------------------------------------------------------


def test_nobody_deletes_a_session_in_the_admin(hostile, bff, new_browser, root_client):
    _, record = signed_in_as(hostile, bff, new_browser)
    assert root_client.get(session_url(record, "delete/")).status_code == 403
    assert root_client.post(session_url(record, "delete/"), {"post": "yes"}).status_code == 403

    listing = root_client.get("/admin/bff/tokensession/")
    assert listing.status_code == 200
    assert 'value="delete_selected"' not in listing.content.decode()
    assert 'value="end_selected"' in listing.content.decode()
    root_client.post(
        "/admin/bff/tokensession/",
        {"action": "delete_selected", "_selected_action": [str(record.pk)], "post": "yes"},
    )
    change = root_client.get(session_url(record, "change/")).content.decode()
    assert session_url(record, "delete/") not in change
    assert TokenSession.objects.filter(pk=record.pk, ended_at__isnull=True).exists()


def test_the_model_refuses_to_delete_sessions(hostile, bff, new_browser):
    _, record = signed_in_as(hostile, bff, new_browser)
    with pytest.raises(SessionsAreEndedNotDeleted):
        record.delete()
    with pytest.raises(SessionsAreEndedNotDeleted):
        TokenSession.objects.all().delete()
    with pytest.raises(SessionsAreEndedNotDeleted):
        TokenSession.objects.filter(pk=record.pk).delete()
    assert TokenSession.objects.count() == 1


# --- ending: the change page's button, the list's action, the users' action ----------------


def test_end_button_asks_then_revokes_audits_and_says_so(hostile, bff, new_browser, root):
    browser, record = signed_in_as(hostile, bff, new_browser)
    client = admin_client(root, enforce_csrf_checks=True)

    change = client.get(session_url(record, "change/"))
    assert change.status_code == 200
    assert f'href="{session_url(record, "end/")}"' in change.content.decode()
    no_token_in(change.content.decode(), hostile)

    confirm = client.get(session_url(record, "end/"))
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "End this session?" in page
    assert "alice@hostile.test" in page
    assert 'method="post"' in page
    no_token_in(page, hostile)
    assert TokenSession.objects.get(pk=record.pk).is_live  # asking changes nothing
    assert hostile.revoked == []

    assert client.post(session_url(record, "end/")).status_code == 403  # no CSRF token
    assert TokenSession.objects.get(pk=record.pk).is_live

    ended = client.post(session_url(record, "end/"), {"csrfmiddlewaretoken": csrf_of(confirm)})
    assert ended.status_code == 302
    assert ended.headers["Location"] == session_url(record, "change/")
    record.refresh_from_db()
    assert record.end_reason == Reason.ENDED_BY_ADMIN
    assert [r["token"] for r in hostile.revoked] == [record.tokens.refresh_token]
    (event,) = AuditEvent.objects.filter(kind=Kind.SESSION_ENDED_BY_ADMIN)
    assert (event.user, event.reason, event.provider) == (
        record.user,
        "by root@example.com",
        "hostile",
    )
    assert not signed_in(browser, bff)

    after = client.get(session_url(record, "change/")).content.decode()
    assert "Ended the session of alice@hostile.test" in after
    assert 'id="end-session"' not in after  # an ended session has no button
    again = client.post(session_url(record, "end/"), {"csrfmiddlewaretoken": csrf_of(confirm)})
    assert again.status_code == 302
    assert len(hostile.revoked) == 1
    assert AuditEvent.objects.filter(kind=Kind.SESSION_ENDED_BY_ADMIN).count() == 1


def test_end_page_of_an_unknown_session_goes_back_to_the_list(root_client):
    response = root_client.get("/admin/bff/tokensession/00000000-0000-0000-0000-000000000000/end/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_end_all_sessions_of_the_selected_users(hostile, bff, new_browser, root_client):
    alice_1, record_1 = signed_in_as(hostile, bff, new_browser)
    alice_2, record_2 = signed_in_as(hostile, bff, new_browser)
    bob, bob_record = signed_in_as(hostile, bff, new_browser, "hostile-bob", "bob@hostile.test")
    alice = record_1.user

    listing = text_of(root_client.get("/admin/accounts/user/"))
    assert 'value="end_all_sessions"' in listing
    assert "End all sessions of the selected users" in listing
    response = root_client.post(
        "/admin/accounts/user/",
        {"action": "end_all_sessions", "_selected_action": [str(alice.pk)]},
        follow=True,
    )
    assert "Ended 2 session(s) of 1 user(s)." in response.content.decode()
    assert not signed_in(alice_1, bff)
    assert not signed_in(alice_2, bff)
    assert signed_in(bob, bff)
    for record in (record_1, record_2):
        record.refresh_from_db()
        assert record.end_reason == Reason.ENDED_BY_ADMIN
    revoked = sorted(r["token"] for r in hostile.revoked)
    assert revoked == sorted(r.tokens.refresh_token for r in (record_1, record_2))
    events = AuditEvent.objects.filter(kind=Kind.SESSION_ENDED_BY_ADMIN)
    assert [(e.user, e.reason) for e in events] == [(alice, "by root@example.com")] * 2


def test_deleting_a_user_ends_and_revokes_their_sessions_first(
    hostile, bff, new_browser, root_client
):
    browser, record = signed_in_as(hostile, bff, new_browser)
    user = record.user
    confirm = root_client.get(f"/admin/accounts/user/{user.pk}/delete/").content.decode()
    assert "permission to delete" not in confirm  # the sessions do not block it

    response = root_client.post(f"/admin/accounts/user/{user.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=user.pk).exists()
    assert not TokenSession.objects.filter(pk=record.pk).exists()
    assert [r["token"] for r in hostile.revoked] == [record.tokens.refresh_token]
    assert not signed_in(browser, bff)
    # The audit log keeps who it was about.
    (ended,) = AuditEvent.objects.filter(kind=Kind.SESSION_ENDED_BY_ADMIN)
    assert (ended.user, ended.user_label) == (None, "alice@hostile.test")
    assert AuditEvent.objects.filter(kind=Kind.SIGN_IN, user_label="alice@hostile.test").exists()


def test_deleting_a_user_outside_the_admin_ends_their_sessions_too(hostile, bff, new_browser):
    browser, record = signed_in_as(hostile, bff, new_browser)
    User.objects.filter(pk=record.user_id).delete()
    assert [r["token"] for r in hostile.revoked] == [record.tokens.refresh_token]
    assert not signed_in(browser, bff)
    assert not TokenSession.objects.exists()


# --- the audit log only grows ---------------------------------------------------------------


def test_audit_log_is_read_only_in_the_admin_for_superusers_too(
    hostile, bff, new_browser, root_client
):
    signed_in_as(hostile, bff, new_browser)
    event = AuditEvent.objects.get(kind=Kind.SIGN_IN, user__email="alice@hostile.test")
    base = "/admin/accounts/auditevent/"
    assert root_client.get(f"{base}add/").status_code == 403
    assert root_client.get(f"{base}{event.pk}/delete/").status_code == 403
    assert root_client.post(f"{base}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    view = root_client.get(f"{base}{event.pk}/change/")
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    root_client.post(f"{base}{event.pk}/change/", {"reason": "rewritten", "kind": "sign_out"})
    listing = text_of(root_client.get(base))
    assert 'value="delete_selected"' not in listing
    assert "alice@hostile.test" in listing
    root_client.post(
        base, {"action": "delete_selected", "_selected_action": [str(event.pk)], "post": "yes"}
    )
    assert AuditEvent.objects.get(pk=event.pk).reason == event.reason
    assert AuditEvent.objects.get(pk=event.pk).kind == Kind.SIGN_IN


def test_the_model_refuses_to_change_or_delete_audit_rows(hostile, bff, new_browser):
    _, record = signed_in_as(hostile, bff, new_browser)
    event = AuditEvent.objects.get(kind=Kind.SIGN_IN)
    event.reason = "rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        event.save()
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.all().delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.bulk_update([event], ["reason"])
    assert AuditEvent.objects.get(pk=event.pk).reason == ""
    added = AuditEvent.objects.create(kind=Kind.SIGN_OUT, user=record.user)  # adding works
    assert added.user_label == "alice@hostile.test"


# --- lists people can read ------------------------------------------------------------------


def test_session_list_speaks_in_words_and_filters_live_and_ended(
    hostile, bff, new_browser, root_client
):
    _, ended = signed_in_as(hostile, bff, new_browser)
    _, live = signed_in_as(hostile, bff, new_browser, "hostile-bob", "bob@hostile.test")
    root_client.post(
        "/admin/bff/tokensession/",
        {"action": "end_selected", "_selected_action": [str(ended.pk)]},
    )
    page = text_of(root_client.get("/admin/bff/tokensession/"))
    for words in ("Live", "Ended", "End reason", "Ended by an admin", "Last seen", "Started"):
        assert words in page, words
    assert "alice@hostile.test" in page and "bob@hostile.test" in page
    no_token_in(page, hostile)

    only_live = text_of(root_client.get("/admin/bff/tokensession/?status=live"))
    assert "bob@hostile.test" in only_live and "alice@hostile.test" not in only_live
    only_ended = text_of(root_client.get("/admin/bff/tokensession/?status=ended"))
    assert "alice@hostile.test" in only_ended and "bob@hostile.test" not in only_ended
    by_reason = text_of(
        root_client.get("/admin/bff/tokensession/?end_reason__exact=ended_by_admin")
    )
    assert "alice@hostile.test" in by_reason and "bob@hostile.test" not in by_reason
    assert live.is_live


def test_user_page_lists_their_sessions_without_tokens(hostile, bff, new_browser, root_client):
    _, ended = signed_in_as(hostile, bff, new_browser)
    _, live = signed_in_as(hostile, bff, new_browser)
    root_client.post(
        "/admin/bff/tokensession/",
        {"action": "end_selected", "_selected_action": [str(ended.pk)]},
    )
    response = root_client.get(f"/admin/accounts/user/{live.user_id}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "sessions (live, and ended in the last 30 days)" in page.lower()
    assert "Live" in page and "Ended by an admin" in page
    assert session_url(live, "change/") in page
    assert f"/admin/bff/tokensession/?user__id__exact={live.user_id}" in page
    no_token_in(page, hostile)


def test_users_read_as_their_email_never_a_random_username(hostile, bff, new_browser, root_client):
    _, record = signed_in_as(hostile, bff, new_browser)
    user = record.user
    assert user.username == "alice@hostile.test"
    assert str(user) == "alice@hostile.test"
    # Another person with the same email (another subject): a short suffix.
    _, other = signed_in_as(hostile, bff, new_browser, "hostile-alice-2", "alice@hostile.test")
    assert other.user != user
    assert re.fullmatch(r"alice@hostile\.test-[0-9a-f]{6}", other.user.username)
    # No email: the preferred username (or name) with the provider.
    hostile.subject = "hostile-carol"
    hostile.profile = {"name": "Carol Hostile", "preferred_username": "carol"}
    assert sign_in(new_browser(), bff).status_code == 302
    carol = Identity.objects.get(subject="hostile-carol").user
    assert carol.username == "carol@hostile"
    assert str(carol) == "Carol Hostile (hostile)"
    # A user made before usernames were readable is not shown by its random username.
    legacy = User.objects.create_user("oidc-0123456789abcdef0123")
    Identity.objects.create(user=legacy, issuer="https://x", subject="s", provider="corp")
    assert str(legacy) == f"user {legacy.pk} (corp)"

    listing = text_of(root_client.get("/admin/accounts/user/"))
    assert "Carol Hostile (hostile)" in listing
    sessions = text_of(root_client.get("/admin/bff/tokensession/"))
    assert "oidc-" not in sessions


def test_staff_without_permissions_see_everything_and_end_sessions(hostile, bff, new_browser):
    browser, record = signed_in_as(hostile, bff, new_browser)
    staff = User.objects.create_user("staff", "staff@example.com", "pw-for-the-test", is_staff=True)
    client = admin_client(staff)
    for page in (
        "/admin/",
        "/admin/bff/tokensession/",
        "/admin/accounts/user/",
        "/admin/accounts/auditevent/",
        session_url(record, "change/"),
        f"/admin/accounts/user/{record.user_id}/change/",
    ):
        assert client.get(page).status_code == 200, page
    # Seeing a user is not changing one.
    client.post(f"/admin/accounts/user/{record.user_id}/change/", {"is_superuser": "on"})
    assert not User.objects.get(pk=record.user_id).is_superuser
    assert client.get(f"/admin/accounts/user/{record.user_id}/delete/").status_code == 403
    response = client.post(
        "/admin/bff/tokensession/",
        {"action": "end_selected", "_selected_action": [str(record.pk)]},
    )
    assert response.status_code == 302
    assert not signed_in(browser, bff)
    assert AuditEvent.objects.get(kind=Kind.SESSION_ENDED_BY_ADMIN).reason == "by staff@example.com"


def test_deleting_users_from_the_list_ends_and_revokes_their_sessions(
    hostile, bff, new_browser, root_client
):
    alice, alice_record = signed_in_as(hostile, bff, new_browser)
    bob, bob_record = signed_in_as(hostile, bff, new_browser, "hostile-bob", "bob@hostile.test")
    selected = [str(alice_record.user_id), str(bob_record.user_id)]
    confirm = root_client.post(
        "/admin/accounts/user/", {"action": "delete_selected", "_selected_action": selected}
    )
    assert "permission to delete" not in confirm.content.decode()
    response = root_client.post(
        "/admin/accounts/user/",
        {"action": "delete_selected", "_selected_action": selected, "post": "yes"},
    )
    assert response.status_code == 302
    assert list(User.objects.values_list("username", flat=True)) == ["root"]
    assert len(hostile.revoked) == 2
    assert not signed_in(alice, bff) and not signed_in(bob, bff)
    assert AuditEvent.objects.filter(kind=Kind.SESSION_ENDED_BY_ADMIN).count() == 2


def test_rights_given_on_the_admin_page_are_marked_and_audited(
    hostile, bff, new_browser, root_client
):
    _, record = signed_in_as(hostile, bff, new_browser)
    url = f"/admin/accounts/user/{record.user_id}/change/"
    page = root_client.get(url)
    assert page.status_code == 200
    data = form_values(page.content.decode())
    assert "password" not in data  # no password sign-in: nothing to set
    data["is_staff"] = ["on"]
    saved = root_client.post(url, data)
    assert saved.status_code == 302, saved.content.decode()[:3000]
    user = User.objects.get(pk=record.user_id)
    assert (user.is_staff, user.staff_source) == (True, "admin")
    assert TokenSession.objects.get(pk=record.pk).is_live  # the inline changed nothing
    (event,) = AuditEvent.objects.filter(kind=Kind.ADMIN_RIGHTS)
    assert (event.user, event.reason) == (user, "staff granted (admin page, by root@example.com)")

    data = form_values(root_client.get(url).content.decode())
    del data["is_staff"]
    assert root_client.post(url, data).status_code == 302
    user.refresh_from_db()
    assert (user.is_staff, user.staff_source) == (False, "")
