"""The built-in provider's authentication levels: acr and auth_time in the tokens, the second
step for acr_values, max_age, and discovery (OpenID Connect Core 3.1.2.1, RFC 9470)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urljoin

import pytest
import requests

from tests.idp.conftest import _provider
from tests.idp.flow import (
    CLIENT_ID,
    EMAIL,
    PASSWORD,
    REDIRECT_URI,
    Client,
    pkce_pair,
    query_params,
)
from tests.support.idp import find_form
from tests.support.servers import Server

PWD = "urn:bff:demo:pwd"
MFA = "urn:bff:demo:mfa"


@pytest.fixture(scope="module")
def idp_strict_max_age(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A provider that counts max_age to the second (no grace for the sign-in round trip)."""
    yield from _provider(tmp_path_factory, "idp-max-age", IDP_MAX_AGE_GRACE_SECONDS="0")


def walk(browser: requests.Session, url: str, origin: str) -> requests.Response:
    """GET `url` and follow redirects while they stay on the provider."""
    response = browser.get(url, allow_redirects=False)
    for _ in range(10):
        if not response.is_redirect:
            return response
        target = urljoin(response.url, response.headers["Location"])
        if not target.startswith(origin):
            return response
        response = browser.get(target, allow_redirects=False)
    raise AssertionError("too many redirects")


def submit(browser: requests.Session, page: requests.Response, origin: str, **fields: str):
    action, form = find_form(page, "password")
    form.update(fields)
    response = browser.post(action, data=form, headers={"Referer": page.url}, allow_redirects=False)
    if response.is_redirect:
        return walk(browser, urljoin(response.url, response.headers["Location"]), origin)
    return response


class Flow:
    """One authorization request, walked page by page."""

    def __init__(self, client: Client, **params: str) -> None:
        self.client = client
        self.origin = client.idp.url
        self.verifier, challenge = pkce_pair()
        url = client.authorize_url(code_challenge=challenge, code_challenge_method="S256", **params)
        self.page = walk(client.browser, url, self.origin)

    @property
    def at_client(self) -> bool:
        return self.page.is_redirect and self.page.headers["Location"].startswith(REDIRECT_URI)

    def submit(self, **fields: str) -> Flow:
        self.page = submit(self.client.browser, self.page, self.origin, **fields)
        return self

    def tokens(self) -> dict:
        assert self.at_client, self.page.text[:500]
        code = query_params(self.page.headers["Location"])["code"]
        response = self.client.token_request(
            grant_type="authorization_code",
            code=code,
            redirect_uri=REDIRECT_URI,
            code_verifier=self.verifier,
        )
        assert response.status_code == 200, response.text
        return response.json()


def test_discovery_advertises_the_levels(client: Client) -> None:
    assert client.metadata["acr_values_supported"] == [PWD, MFA]
    assert {"acr", "auth_time"} <= set(client.metadata["claims_supported"])


def test_a_password_sign_in_gives_pwd_with_its_time(fresh_client: Client) -> None:
    started = int(time.time())
    flow = Flow(fresh_client).submit(email=EMAIL, password=PASSWORD)
    tokens = flow.tokens()
    id_claims = fresh_client.verify_id_token(tokens["id_token"])
    access = fresh_client.verify_access_token(tokens["access_token"])
    assert id_claims["acr"] == access["acr"] == PWD
    assert started - 1 <= id_claims["auth_time"] <= time.time()
    assert access["auth_time"] == id_claims["auth_time"]


def test_acr_values_asks_for_the_second_step_and_tokens_keep_it(fresh_client: Client) -> None:
    flow = Flow(fresh_client, acr_values=MFA).submit(email=EMAIL, password=PASSWORD)
    # Signed in with the password: now the second step, before any code is issued.
    assert not flow.at_client
    assert "Confirm it&#x27;s you" in flow.page.text or "Confirm it's you" in flow.page.text
    stepped = int(time.time())
    tokens = flow.submit(password=PASSWORD).tokens()
    id_claims = fresh_client.verify_id_token(tokens["id_token"])
    access = fresh_client.verify_access_token(tokens["access_token"])
    assert id_claims["acr"] == access["acr"] == MFA
    assert id_claims["auth_time"] >= stepped - 1

    # A refresh keeps how the person authenticated, in the new access and ID tokens.
    refreshed = fresh_client.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    again = fresh_client.verify_access_token(body["access_token"])
    assert (again["acr"], again["auth_time"]) == (MFA, id_claims["auth_time"])
    if "id_token" in body:
        refreshed_id = fresh_client.verify_id_token(body["id_token"])
        assert (refreshed_id["acr"], refreshed_id["auth_time"]) == (MFA, id_claims["auth_time"])
    # And the next rotation too (the family, not just the first refresh token).
    third = fresh_client.refresh(body["refresh_token"]).json()
    assert fresh_client.verify_access_token(third["access_token"])["acr"] == MFA


def test_a_wrong_password_at_the_second_step_issues_nothing(fresh_client: Client) -> None:
    flow = Flow(fresh_client, acr_values=MFA).submit(email=EMAIL, password=PASSWORD)
    flow.submit(password="not the password")
    assert flow.page.status_code == 400
    assert "not your password" in flow.page.text
    assert not flow.at_client
    tokens = flow.submit(password=PASSWORD).tokens()
    assert fresh_client.verify_id_token(tokens["id_token"])["acr"] == MFA


def test_a_stepped_up_session_answers_later_requests_without_asking(fresh_client: Client) -> None:
    Flow(fresh_client, acr_values=MFA).submit(email=EMAIL, password=PASSWORD).submit(
        password=PASSWORD
    ).tokens()
    for params, acr in [({"acr_values": MFA}, MFA), ({}, MFA), ({"acr_values": PWD}, PWD)]:
        flow = Flow(fresh_client, **params)
        assert flow.at_client, params
        assert fresh_client.verify_id_token(flow.tokens()["id_token"])["acr"] == acr


def test_unknown_acr_values_are_voluntary(fresh_client: Client) -> None:
    flow = Flow(fresh_client, acr_values="urn:unknown:level").submit(email=EMAIL, password=PASSWORD)
    assert fresh_client.verify_id_token(flow.tokens()["id_token"])["acr"] == PWD


def test_max_age_asks_again_once_the_sign_in_is_older(idp_strict_max_age: Server) -> None:
    client = Client(idp_strict_max_age)
    first = Flow(client).submit(email=EMAIL, password=PASSWORD).tokens()
    first_auth_time = client.verify_id_token(first["id_token"])["auth_time"]

    assert Flow(client, max_age="3600").at_client  # recent enough: no page
    time.sleep(2.1)
    flow = Flow(client, max_age="1")
    assert not flow.at_client
    assert 'name="password"' in flow.page.text and 'name="email"' in flow.page.text
    tokens = flow.submit(email=EMAIL, password=PASSWORD).tokens()
    claims = client.verify_id_token(tokens["id_token"])
    assert claims["auth_time"] >= first_auth_time + 2
    assert claims["aud"] == CLIENT_ID
