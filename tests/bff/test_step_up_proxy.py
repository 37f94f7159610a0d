"""/api answers an upstream's RFC 9470 challenge with step_up_required (the live BFF, the
built-in provider, an echo upstream that sends the challenges)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from bff import step_up
from bff.models import TokenSession
from tests.support.echo_upstream import EchoUpstream

pytestmark = pytest.mark.django_db(transaction=True)

MFA = "urn:bff:demo:mfa"
CHALLENGE = 'Bearer realm="api", error="insufficient_user_authentication"'


@pytest.fixture
def echo(echo_server, wired, settings) -> EchoUpstream:
    settings.BFF_UPSTREAMS = {"echo": f"{echo_server.url}/base"}
    echo_server.reset()
    return echo_server


def test_a_step_up_challenge_becomes_step_up_required(echo, user, wired):
    record = TokenSession.objects.live().get()
    echo.challenges = [
        f'{CHALLENGE}, error_description="A stronger sign-in, please", '
        f'acr_values="{MFA}", max_age=300'
    ]

    response = user.get(f"{wired.bff}/api/echo/challenge")

    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert "WWW-Authenticate" not in response.headers
    body = response.json()
    assert body["error"] == "step_up_required"
    assert body["acr_values"] == MFA
    assert body["max_age"] == 300
    assert "upstream's own 401 body" not in response.text
    link = urlsplit(body["login_url"])
    assert link.path == "/auth/login"
    query = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert query["next"] == "/"
    assert step_up.from_signed(query[step_up.PARAM]) == step_up.StepUp((MFA,), 300)
    # No retry and no refresh for this 401: the token is valid, only not strong enough.
    assert len(echo.seen) == 1
    after = TokenSession.objects.get(pk=record.pk)
    assert after.is_live and after.version == record.version


def test_the_challenge_may_come_among_others_in_several_headers(echo, user, wired):
    echo.challenges = ['Basic realm="api"', f"{CHALLENGE}, max_age=0"]
    body = user.get(f"{wired.bff}/api/echo/challenge").json()
    assert (body["error"], body["acr_values"], body["max_age"]) == ("step_up_required", None, 0)


@pytest.mark.parametrize(
    "challenges",
    [
        [CHALLENGE],  # nothing to ask for
        [f'{CHALLENGE}, acr_values="{MFA}&prompt=none"'],
        [f"{CHALLENGE}, max_age=-5"],
        [f'{CHALLENGE}, acr_values="{MFA}", acr_values="urn:other"'],
        [f'{CHALLENGE}, acr_values="unterminated'],
        ['Bearer error="insufficient_user_authentication" acr_values="x"'],
        ["Bearer " + "a" * 9000],
    ],
)
def test_a_challenge_that_cannot_be_acted_on_is_relayed_as_it_came(echo, user, wired, challenges):
    echo.challenges = challenges
    response = user.get(f"{wired.bff}/api/echo/challenge")
    assert response.status_code == 401
    assert response.json() == {"error": "upstream's own 401 body"}
    assert TokenSession.objects.live().count() == 1


def test_an_anonymous_caller_is_not_asked_to_step_up(echo, browser, wired):
    echo.challenges = [f'{CHALLENGE}, acr_values="{MFA}"']
    response = browser.get(f"{wired.bff}/api/echo/challenge", headers={"X-CSRF": "1"})
    assert response.status_code == 401
    assert response.json()["error"] == "not_signed_in"
    assert echo.seen == []
