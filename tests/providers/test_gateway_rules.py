"""Route rules with third-party providers' tokens: oidc-provider's JWT access tokens for an
API (RFC 8707, their `scope` read by the gateway) and oidc-provider-mock's opaque ones with
a `groups` claim in the ID token. A refused call never reaches the echo upstream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.providers.conftest import _serve
from tests.providers.ops import MockOP
from tests.providers.test_matrix import API, API_SETTINGS, claims_of, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def mock_billing(tmp_path_factory, live_server) -> Iterator[MockOP]:
    """oidc-provider-mock whose person is in the `billing` group (an ID token claim)."""
    op = MockOP(
        tmp_path_factory.mktemp("mock-billing"),
        live_server.url,
        extra_claims={"groups": ["billing", "staff"]},
    )
    yield from _serve(op)


def paths_reached(walk) -> list[tuple[str, str]]:
    return [(seen["method"], seen["path"]) for seen in walk.echo.seen]


def test_scopes_of_a_jwt_access_token_from_oidc_provider(walk, npm_api, settings):
    w = walk(npm_api, userinfo="auto", **API_SETTINGS)
    record = sign_in(w)
    assert "api:read" in claims_of(record.tokens.access_token)["scope"].split()
    settings.BFF_ROUTE_RULES = {
        "echo": [
            {"path": "/reports", "scopes": ["api:read"]},
            {"methods": ["DELETE"], "path": "/reports", "scopes": ["api:write"]},
        ]
    }
    w.echo.reset()
    assert w.browser.get(f"{w.bff}/api/echo/reports/1", headers=API).status_code == 200
    refused = w.browser.delete(f"{w.bff}/api/echo/reports/1", headers={**API, "Origin": w.bff})
    assert refused.status_code == 403, refused.text
    assert refused.json()["required"] == {"scopes": ["api:write"]}
    assert paths_reached(w) == [("GET", "/base/reports/1")]


def test_claims_from_oidc_provider_mock_and_its_opaque_tokens(walk, mock_billing, settings):
    w = walk(mock_billing)
    record = sign_in(w)
    assert claims_of(record.tokens.id_token)["groups"] == ["billing", "staff"]
    settings.BFF_ROUTE_RULES = {
        "echo": [
            {"path": "/invoices", "claims": {"groups": "billing"}},
            {"path": "/ops", "claims": {"groups": ["ops", "sre"]}},
            # An opaque access token shows no scopes: a scope rule refuses it.
            {"path": "/reports", "scopes": ["email"]},
        ]
    }
    w.echo.reset()
    assert w.browser.get(f"{w.bff}/api/echo/invoices/7", headers=API).status_code == 200
    ops = w.browser.get(f"{w.bff}/api/echo/ops", headers=API)
    assert ops.status_code == 403
    assert ops.json()["required"] == {"claims": {"groups": ["ops", "sre"]}}
    reports = w.browser.get(f"{w.bff}/api/echo/reports", headers=API)
    assert reports.status_code == 403
    assert reports.json()["required"] == {"scopes": ["email"]}
    assert paths_reached(w) == [("GET", "/base/invoices/7")]
