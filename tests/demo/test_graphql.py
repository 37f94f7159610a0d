"""The GraphQL side of the demo API, called with valid tokens."""

from __future__ import annotations

from datetime import datetime

import requests

from tests.demo.client import bearer, graphql
from tests.demo.issuer import DROP, FakeIssuer
from tests.support.servers import Server

ITEMS = "{ items { id name createdAt } }"
ADD_ITEM = "mutation Add($name: String!) { addItem(name: $name) { id name createdAt } }"


def ok(response: requests.Response) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def test_me_comes_from_the_token(demo: Server, issuer: FakeIssuer) -> None:
    token = issuer.mint("gql-me", scope="openid email items:read")
    data = ok(graphql(demo, "{ me { sub email name scope } }", headers=bearer(token)))
    assert data["me"] == {
        "sub": "gql-me",
        "email": "gql-me@example.com",
        "name": "Gql-Me",
        "scope": "openid email items:read",
    }


def test_me_tolerates_absent_optional_claims(demo: Server, issuer: FakeIssuer) -> None:
    token = issuer.mint("gql-bare", email=DROP, name=DROP, scope=DROP)
    data = ok(graphql(demo, "{ me { sub email name scope } }", headers=bearer(token)))
    assert data["me"] == {"sub": "gql-bare", "email": None, "name": None, "scope": None}


def test_show_private_stuff_names_the_caller(demo: Server, issuer: FakeIssuer) -> None:
    data = ok(graphql(demo, "{ showPrivateStuff }", headers=bearer(issuer.mint("gql-private"))))
    assert data["showPrivateStuff"] == "Private stuff for gql-private: the cake is in the fridge."


def test_add_item_and_items_are_per_subject(demo: Server, issuer: FakeIssuer) -> None:
    alice, bob = bearer(issuer.mint("gql-alice")), bearer(issuer.mint("gql-bob"))
    assert ok(graphql(demo, ITEMS, headers=alice)) == {"items": []}

    first = ok(graphql(demo, ADD_ITEM, {"name": "  Cake "}, headers=alice))["addItem"]
    assert first["name"] == "Cake"
    assert datetime.fromisoformat(first["createdAt"]).tzinfo is not None
    ok(graphql(demo, ADD_ITEM, {"name": "Fridge"}, headers=alice))

    items = ok(graphql(demo, ITEMS, headers=alice))["items"]
    assert [item["name"] for item in items] == ["Cake", "Fridge"]
    assert items[0] == first
    assert ok(graphql(demo, ITEMS, headers=bob)) == {"items": []}


def test_rest_and_graphql_share_the_items(demo: Server, issuer: FakeIssuer) -> None:
    token = issuer.mint("gql-shared")
    requests.post(
        f"{demo.url}/rest/items", json={"name": "via REST"}, headers=bearer(token), timeout=10
    )
    items = ok(graphql(demo, ITEMS, headers=bearer(token)))["items"]
    assert [item["name"] for item in items] == ["via REST"]


def test_invalid_item_name_is_a_graphql_error(demo: Server, issuer: FakeIssuer) -> None:
    headers = bearer(issuer.mint("gql-invalid"))
    for name, message in [("   ", "name must not be empty"), ("x" * 201, "at most 200")]:
        response = graphql(demo, ADD_ITEM, {"name": name}, headers=headers)
        assert response.status_code == 200
        body = response.json()
        assert body["data"] is None
        assert message in body["errors"][0]["message"]
    assert ok(graphql(demo, ITEMS, headers=headers)) == {"items": []}


def test_query_errors_are_reported(demo: Server, issuer: FakeIssuer) -> None:
    headers = bearer(issuer.mint("gql-errors"))
    response = graphql(demo, "{ nope }", headers=headers)
    assert "Cannot query field 'nope'" in response.json()["errors"][0]["message"]
    response = graphql(demo, "{ items { ", headers=headers)
    assert "Syntax Error" in response.json()["errors"][0]["message"]


def test_transport_errors_are_json(demo: Server, issuer: FakeIssuer) -> None:
    headers = {**bearer(issuer.mint("gql-transport")), "Content-Type": "application/json"}
    response = requests.post(f"{demo.url}/graphql", data=b"{", headers=headers, timeout=10)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"]
    response = requests.get(f"{demo.url}/graphql", headers=headers, timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.json()["error"] == "method_not_allowed"
