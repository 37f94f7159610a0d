"""Tokens minted for one API: a resource indicator on the refresh grant (RFC 8707) and a
token exchange (RFC 8693), at a provider that knows two APIs."""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest

from tests.idp.conftest import _provider
from tests.idp.flow import Client
from tests.support.servers import Server

BILLING = "https://billing.example.test/"
REPORTS = "https://reports.example.test/"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture(scope="module")
def idp_apis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _provider(
        tmp_path_factory,
        "idp-apis",
        IDP_RESOURCE_INDICATORS=f"{BILLING},{REPORTS}",
        IDP_TOKEN_EXCHANGE_AUDIENCES="reports-api",
        IDP_REFRESH_GRACE_SECONDS="0",
        IDP_REUSE_PROTECTION="true",
    )


@pytest.fixture(scope="module")
def api_client(idp_apis: Server) -> Client:
    return Client(idp_apis)


def claims_for(client: Client, token: str, audience: str) -> dict:
    key = client.jwks.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=audience, issuer=client.issuer)


def error_of(response) -> str:
    assert response.status_code == 400, response.text
    return response.json()["error"]


def test_refresh_with_a_resource_mints_for_it_and_keeps_the_chain(api_client: Client) -> None:
    first = api_client.sign_in()
    billing = api_client.token_request(
        grant_type="refresh_token", refresh_token=first["refresh_token"], resource=BILLING
    ).json()
    assert claims_for(api_client, billing["access_token"], BILLING)["sub"]
    with pytest.raises(jwt.InvalidAudienceError):
        api_client.verify_access_token(billing["access_token"])
    # The rotated refresh token still serves any resource of the grant, and none at all.
    reports = api_client.token_request(
        grant_type="refresh_token", refresh_token=billing["refresh_token"], resource=REPORTS
    ).json()
    assert claims_for(api_client, reports["access_token"], REPORTS)["sub"]
    plain = api_client.refresh(reports["refresh_token"]).json()
    assert api_client.verify_access_token(plain["access_token"])["sub"]


def test_refresh_with_an_unknown_resource_is_invalid_target(api_client: Client) -> None:
    first = api_client.sign_in()
    for resource in ("https://elsewhere.example.test/", "not a uri"):
        refused = api_client.token_request(
            grant_type="refresh_token", refresh_token=first["refresh_token"], resource=resource
        )
        assert error_of(refused) == "invalid_target"
    # Nothing was used up: the refresh token still works.
    assert api_client.refresh(first["refresh_token"]).status_code == 200


def exchange(client: Client, subject: str, **extra: str):
    return client.token_request(
        grant_type=EXCHANGE,
        subject_token=subject,
        subject_token_type=ACCESS,
        requested_token_type=ACCESS,
        **extra,
    )


def test_token_exchange_mints_for_the_audience(api_client: Client) -> None:
    first = api_client.sign_in()
    response = exchange(api_client, first["access_token"], audience="reports-api", scope="openid")
    assert response.status_code == 200, response.text
    minted = response.json()
    assert minted["issued_token_type"] == ACCESS and "refresh_token" not in minted
    claims = claims_for(api_client, minted["access_token"], "reports-api")
    assert claims["scope"] == "openid"
    assert claims["sub"] == api_client.verify_access_token(first["access_token"])["sub"]


def test_token_exchange_refuses_what_it_should(api_client: Client) -> None:
    first = api_client.sign_in()
    subject = first["access_token"]
    assert error_of(exchange(api_client, subject, audience="other-api")) == "invalid_target"
    assert error_of(exchange(api_client, "forged", audience="reports-api")) == "invalid_grant"
    assert (
        error_of(exchange(api_client, subject, audience="reports-api", scope="openid admin"))
        == "invalid_scope"
    )
    assert error_of(exchange(api_client, subject)) == "invalid_request"
    assert api_client.revoke(subject, "access_token").status_code == 200
    assert error_of(exchange(api_client, subject, audience="reports-api")) == "invalid_grant"
