"""A refreshed ID token must keep the session's identity (OIDC Core 12.2)."""

from __future__ import annotations

import pytest

from bff.models import TokenSession
from tests.accounts.conftest import sign_in, signed_in
from tests.bff.conftest import make_due
from tests.support.hostile_provider import DELETE

pytestmark = pytest.mark.django_db(transaction=True)


def refresh_grants(hostile) -> int:
    return sum(1 for r in hostile.token_requests if r["form"].get("grant_type") == "refresh_token")


def test_refresh_with_same_identity_keeps_session(hostile, bff, browser):
    sign_in(browser, bff)
    before = make_due()
    assert signed_in(browser, bff)
    assert refresh_grants(hostile) == 1
    after = TokenSession.objects.get(pk=before.pk)
    assert after.version == before.version + 1 and after.is_live


def test_refresh_returning_another_sub_ends_session(hostile, bff, browser):
    sign_in(browser, bff)
    record = make_due()
    hostile.subject = "someone-else"
    assert not signed_in(browser, bff)
    ended = TokenSession.objects.get(pk=record.pk)
    assert ended.end_reason == TokenSession.EndReason.IDENTITY_CHANGED


def test_refresh_returning_another_issuer_ends_session(hostile, bff, browser):
    sign_in(browser, bff)
    record = make_due()
    hostile.mutate_id_token(iss="https://evil.example")
    assert not signed_in(browser, bff)
    assert TokenSession.objects.get(pk=record.pk).end_reason == "identity_changed"


def test_refresh_without_id_token_keeps_the_previous_one(hostile, bff, browser):
    sign_in(browser, bff)
    record = make_due()
    previous_id_token = record.tokens.id_token
    hostile.token_response_overrides = {"id_token": DELETE}
    assert signed_in(browser, bff)
    assert TokenSession.objects.get(pk=record.pk).tokens.id_token == previous_id_token
