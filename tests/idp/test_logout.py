"""RP-initiated logout at the end-session endpoint."""

from __future__ import annotations

import requests

from tests.idp.flow import CLIENT_ID, POST_LOGOUT_REDIRECT_URI, Client, query_params


def test_logout_with_id_token_hint_redirects_with_state_without_a_prompt(
    fresh_client: Client,
) -> None:
    client = fresh_client
    tokens = client.sign_in()

    response = client.browser.get(
        client.metadata["end_session_endpoint"],
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": POST_LOGOUT_REDIRECT_URI,
            "state": "bye-123",
        },
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(POST_LOGOUT_REDIRECT_URI + "?")
    assert query_params(location)["state"] == "bye-123"
    # The provider session is over: authorizing again asks for the password.
    again = client.browser.get(client.authorize_url(), allow_redirects=False, timeout=10)
    assert again.status_code == 302
    assert again.headers["Location"].startswith("/accounts/login/")


def test_logout_without_a_provider_session_still_redirects(fresh_client: Client) -> None:
    # The person may have signed out at the provider already; the client's redirect still works.
    tokens = fresh_client.sign_in()
    response = requests.get(
        fresh_client.metadata["end_session_endpoint"],
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": POST_LOGOUT_REDIRECT_URI,
            "state": "s",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"{POST_LOGOUT_REDIRECT_URI}?state=s"


def test_logout_keeps_the_clients_refresh_tokens(fresh_client: Client) -> None:
    # Ending the provider session must not sign the person out of their other devices;
    # the client revokes its own refresh token at the revocation endpoint.
    client = fresh_client
    other_device = client.sign_in(requests.Session())
    tokens = client.sign_in()
    client.browser.get(
        client.metadata["end_session_endpoint"],
        params={"id_token_hint": tokens["id_token"], "client_id": CLIENT_ID},
        allow_redirects=False,
        timeout=10,
    )
    assert client.refresh(other_device["refresh_token"]).status_code == 200


def test_logout_to_an_unregistered_uri_is_refused(fresh_client: Client) -> None:
    client = fresh_client
    tokens = client.sign_in()
    response = client.browser.get(
        client.metadata["end_session_endpoint"],
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "http://evil.example/",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_logout_with_a_forged_id_token_hint_is_refused(fresh_client: Client) -> None:
    client = fresh_client
    tokens = client.sign_in()
    header, payload, _signature = tokens["id_token"].split(".")
    response = client.browser.get(
        client.metadata["end_session_endpoint"],
        params={
            "id_token_hint": f"{header}.{payload}.AAAA",
            "post_logout_redirect_uri": POST_LOGOUT_REDIRECT_URI,
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
