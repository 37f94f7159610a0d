"""Rotating refresh tokens: grace period, reuse detection, revocation, lifetime."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.idp.flow import Client
from tests.support.servers import Server


def assert_invalid_grant(response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"


def rotate(client: Client, refresh_token: str) -> dict:
    response = client.refresh(refresh_token)
    assert response.status_code == 200, response.text
    return response.json()


def test_refresh_rotates_the_refresh_token(client: Client) -> None:
    first = client.sign_in()
    second = rotate(client, first["refresh_token"])
    third = rotate(client, second["refresh_token"])

    assert len({first["refresh_token"], second["refresh_token"], third["refresh_token"]}) == 3
    assert len({first["access_token"], second["access_token"], third["access_token"]}) == 3


def test_reuse_inside_the_grace_period_returns_working_tokens(client: Client) -> None:
    first = client.sign_in()
    rotated = rotate(client, first["refresh_token"])

    # A client that lost the rotated response retries with the old token (grace: 30 s).
    replay = client.refresh(first["refresh_token"])

    assert replay.status_code == 200, replay.text
    replayed = replay.json()
    # DOT answers with the pair it already issued for that refresh token.
    assert replayed["refresh_token"] == rotated["refresh_token"]
    assert replayed["access_token"] == rotated["access_token"]
    # The ID token minted for the replay would carry the at_hash of a discarded access token.
    assert "id_token" not in replayed
    claims = client.verify_access_token(replayed["access_token"])
    assert 0 < replayed["expires_in"] <= claims["exp"] - time.time() + 1
    assert client.userinfo(replayed["access_token"]).status_code == 200
    # The chain is intact: the current token keeps rotating.
    rotate(client, replayed["refresh_token"])


def test_concurrent_style_double_use_then_chain_continues(client: Client) -> None:
    first = client.sign_in()
    a = rotate(client, first["refresh_token"])
    b = rotate(client, first["refresh_token"])
    assert a["refresh_token"] == b["refresh_token"]
    c = rotate(client, b["refresh_token"])
    assert c["refresh_token"] != b["refresh_token"]


def test_simultaneous_refreshes_with_one_token_get_one_rotation(client: Client) -> None:
    tokens = client.sign_in()
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(client.refresh, [tokens["refresh_token"]] * 8))

    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    assert len({r.json()["refresh_token"] for r in responses}) == 1
    rotate(client, responses[0].json()["refresh_token"])


def test_reuse_of_an_older_generation_kills_the_chain_even_inside_the_grace(client: Client) -> None:
    first = client.sign_in()
    second = rotate(client, first["refresh_token"])
    third = rotate(client, second["refresh_token"])

    # first was superseded two rotations ago: a replay, not a lost response.
    assert_invalid_grant(client.refresh(first["refresh_token"]))
    assert_invalid_grant(client.refresh(third["refresh_token"]))


@pytest.fixture(scope="module")
def grace2(idp_grace2: Server) -> Client:
    return Client(idp_grace2)


@pytest.fixture(scope="module")
def grace0(idp_grace0: Server) -> Client:
    return Client(idp_grace0)


def test_reuse_after_the_grace_period_revokes_the_whole_chain(grace2: Client) -> None:
    first = grace2.sign_in()
    second = rotate(grace2, first["refresh_token"])
    time.sleep(2.5)

    assert_invalid_grant(grace2.refresh(first["refresh_token"]))
    # The newest token of the chain is dead too, and so is its access token at the provider.
    assert_invalid_grant(grace2.refresh(second["refresh_token"]))
    assert grace2.userinfo(second["access_token"]).status_code in (401, 403)


def test_reuse_after_the_grace_period_leaves_other_chains_alone(grace2: Client) -> None:
    victim = grace2.sign_in()
    bystander = grace2.sign_in()
    rotate(grace2, victim["refresh_token"])
    time.sleep(2.5)

    assert_invalid_grant(grace2.refresh(victim["refresh_token"]))
    rotate(grace2, bystander["refresh_token"])


def test_without_grace_a_second_use_fails_and_kills_the_chain(grace0: Client) -> None:
    first = grace0.sign_in()
    second = rotate(grace0, first["refresh_token"])

    assert_invalid_grant(grace0.refresh(first["refresh_token"]))
    assert_invalid_grant(grace0.refresh(second["refresh_token"]))


def test_refresh_lifetime_slides_with_each_rotation(grace0: Client) -> None:
    # Refresh tokens live 3 s on this provider, counted from their own rotation.
    tokens = grace0.sign_in()
    time.sleep(1.5)
    tokens = rotate(grace0, tokens["refresh_token"])
    time.sleep(1.5)
    # The chain is 3 s old now; the current token only 1.5 s.
    tokens = rotate(grace0, tokens["refresh_token"])
    time.sleep(3.2)
    assert_invalid_grant(grace0.refresh(tokens["refresh_token"]))


def test_revoked_refresh_token_stops_working(client: Client) -> None:
    tokens = client.sign_in()
    response = client.revoke(tokens["refresh_token"], "refresh_token")
    assert response.status_code == 200

    assert_invalid_grant(client.refresh(tokens["refresh_token"]))
    # Revoking the refresh token also revokes its access token at the provider.
    assert client.userinfo(tokens["access_token"]).status_code in (401, 403)


def test_revoking_an_unknown_token_is_not_an_error(client: Client) -> None:
    # RFC 7009 2.2: the answer does not reveal whether the token existed.
    assert client.revoke("not-a-token", "refresh_token").status_code == 200


def test_revoked_rotated_token_is_not_honoured_in_the_grace(client: Client) -> None:
    tokens = client.sign_in()
    rotated = rotate(client, tokens["refresh_token"])
    assert client.revoke(rotated["refresh_token"], "refresh_token").status_code == 200

    assert_invalid_grant(client.refresh(rotated["refresh_token"]))
    assert_invalid_grant(client.refresh(tokens["refresh_token"]))
