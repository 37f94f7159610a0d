"""The REST side of the demo API, called with valid tokens."""

from __future__ import annotations

from datetime import datetime

import pytest
import requests

from tests.demo.client import bearer
from tests.demo.issuer import FakeIssuer
from tests.support.servers import Server


def items_url(demo: Server) -> str:
    return f"{demo.url}/rest/items"


def list_names(demo: Server, token: str) -> list[str]:
    response = requests.get(items_url(demo), headers=bearer(token), timeout=10)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def test_healthz_needs_no_token(demo: Server) -> None:
    response = requests.get(f"{demo.url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_items_are_created_listed_oldest_first_and_per_subject(
    demo: Server, issuer: FakeIssuer
) -> None:
    alice, bob = issuer.mint("rest-alice"), issuer.mint("rest-bob")
    assert list_names(demo, alice) == []

    created = requests.post(
        items_url(demo), json={"name": "  First  "}, headers=bearer(alice), timeout=10
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "name", "created_at"}
    assert body["name"] == "First"
    assert isinstance(body["id"], int)
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None
    requests.post(items_url(demo), json={"name": "Second"}, headers=bearer(alice), timeout=10)

    listed = requests.get(items_url(demo), headers=bearer(alice), timeout=10).json()["items"]
    assert [item["name"] for item in listed] == ["First", "Second"]
    assert listed[0] == body
    assert list_names(demo, bob) == []


def test_other_algorithms_of_the_allowlist_work(demo: Server, issuer: FakeIssuer) -> None:
    # An RSA key whose JWK names no alg serves PS256 too; an EC P-256 key serves ES256.
    for token in (
        issuer.mint("rest-algs", kid="k-noalg", alg="PS256"),
        issuer.mint("rest-algs", kid="k-noalg", alg="RS512"),
        issuer.mint("rest-algs", kid="k-ec", alg="ES256"),
    ):
        assert list_names(demo, token) == []


def test_audience_list_and_small_clock_skew_are_accepted(demo: Server, issuer: FakeIssuer) -> None:
    now = issuer.claims()["iat"]
    tokens = [
        issuer.mint("rest-skew", aud=["other-api", "demo-api"]),
        # Within the 30 s leeway on both ends.
        issuer.mint("rest-skew", exp=now - 10, iat=now - 300),
        issuer.mint("rest-skew", iat=now + 10),
    ]
    for token in tokens:
        assert list_names(demo, token) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[]", "invalid_request"),
        (b'"x"', "invalid_request"),
        (b'{"nam": "x"}', "invalid_request"),
        (b'{"name": 5}', "invalid_name"),
        (b'{"name": null}', "invalid_name"),
        (b'{"name": "   "}', "invalid_name"),
        (b'{"name": "' + b"x" * 201 + b'"}', "invalid_name"),
        (b'{"name": "a\\u0000b"}', "invalid_name"),
    ],
)
def test_bad_input_is_400_and_changes_nothing(
    demo: Server, issuer: FakeIssuer, body: bytes, error: str
) -> None:
    token = issuer.mint("rest-bad-input")
    response = requests.post(
        items_url(demo),
        data=body,
        headers={**bearer(token), "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    assert response.json()["message"]
    assert list_names(demo, token) == []


def test_name_limits(demo: Server, issuer: FakeIssuer) -> None:
    token = issuer.mint("rest-limits")
    response = requests.post(
        items_url(demo), json={"name": "x" * 200}, headers=bearer(token), timeout=10
    )
    assert response.status_code == 201
    response = requests.post(
        items_url(demo), json={"name": " " + "y" * 200 + " "}, headers=bearer(token), timeout=10
    )
    assert response.status_code == 201, "the limit applies after stripping"
    assert list_names(demo, token) == ["x" * 200, "y" * 200]


def test_oversized_body_is_413(demo: Server, issuer: FakeIssuer) -> None:
    token = issuer.mint("rest-big")
    response = requests.post(
        items_url(demo), json={"name": "x" * 100_000}, headers=bearer(token), timeout=10
    )
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_other_methods_are_405_json(demo: Server, issuer: FakeIssuer, method: str) -> None:
    response = requests.request(method, items_url(demo), headers=bearer(issuer.mint()), timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"
    assert response.json()["error"] == "method_not_allowed"


def test_unknown_path_is_404_json(demo: Server) -> None:
    response = requests.get(f"{demo.url}/rest/nope", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
