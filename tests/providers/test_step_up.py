"""Step-up authentication (RFC 9470) through a third-party provider: panva's oidc-provider
(npm) with two authentication levels (acrValues), the stronger one behind a one-time code,
and max_age as the library implements it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from accounts.models import AuditEvent
from bff.models import TokenSession
from tests.providers.conftest import Walk, _node
from tests.providers.ops import NodeOP
from tests.providers.test_matrix import API, claims_of, failure_reason, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

PWD = "urn:example:pwd"
MFA = "urn:example:mfa"
CHALLENGE = 'Bearer error="insufficient_user_authentication"'


@pytest.fixture(scope="module")
def npm_step_up(tmp_path_factory, live_server) -> Iterator[NodeOP]:
    yield from _node(tmp_path_factory, live_server, "npm-step-up", step_up_acr_values=(PWD, MFA))


def step_up(walk: Walk, challenge: str, *, code: str | None = None):
    """An /api call the upstream refuses with `challenge`, then the sign-in its login_url
    starts, through the provider's pages; the callback's response."""
    walk.echo.challenges = [challenge]
    refused = walk.browser.get(f"{walk.bff}/api/echo/challenge", headers=API)
    assert refused.status_code == 401
    body = refused.json()
    assert body["error"] == "step_up_required", body
    started = walk.browser.get(walk.bff + body["login_url"], allow_redirects=False)
    assert started.status_code == 302, started.text
    right_code = walk.op.step_up_code
    if code is not None:
        walk.op.step_up_code = code
    try:
        back = walk.op.sign_in(walk.browser, started.headers["Location"])
    finally:
        walk.op.step_up_code = right_code
    return walk.browser.get(back.headers["Location"], allow_redirects=False)


def test_acr_step_up_through_oidc_provider(walk, npm_step_up):
    w = walk(npm_step_up)
    before = sign_in(w)
    # Not asked for, the library leaves acr out of the ID token; this sign-in was PWD.
    assert claims_of(before.tokens.id_token).get("acr") in (None, PWD)

    done = step_up(w, f'{CHALLENGE}, acr_values="{MFA}"')

    assert done.status_code == 302, failure_reason(done)
    after = TokenSession.objects.get()
    assert after.pk == before.pk and after.is_live and after.version == before.version + 1
    assert claims_of(after.tokens.id_token)["acr"] == MFA
    assert after.tokens.refresh_token != before.tokens.refresh_token
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.STEP_UP).count() == 1
    # The authorization request carried the level; the provider prompted again for it.
    assert len(w.calls(route="authorization")) == 2


def test_max_age_step_up_through_oidc_provider(walk, npm_step_up):
    w = walk(npm_step_up)
    before = sign_in(w)
    time.sleep(1.1)
    asked_at = int(time.time())

    done = step_up(w, f"{CHALLENGE}, max_age=0")

    assert done.status_code == 302, failure_reason(done)
    after = TokenSession.objects.get()
    assert after.pk == before.pk and after.version == before.version + 1
    assert claims_of(after.tokens.id_token)["auth_time"] >= asked_at


def test_a_wrong_code_leaves_the_weaker_level_and_the_session(walk, npm_step_up):
    w = walk(npm_step_up)
    before = sign_in(w)

    done = step_up(w, f'{CHALLENGE}, acr_values="{MFA}"', code="000000x")

    assert done.status_code == 403
    assert failure_reason(done) == "step_up:acr_not_requested"
    assert "did not reach the required level" in done.text
    after = TokenSession.objects.get()
    assert after.pk == before.pk and after.is_live and after.version == before.version
    assert w.browser.get(f"{w.bff}/auth/session").status_code == 200
