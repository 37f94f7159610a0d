"""Route rules over real HTTP: the live BFF, the built-in provider's tokens, an echo upstream
that records what reached it, and the demo API."""

from __future__ import annotations

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured

from bff.routes import comparable_path, parse_rules, refusal
from bff.upstreams import ALL_METHODS
from oidc.provider import reset_providers
from tests.conftest import CLIENT_ID, CLIENT_SECRET, USER_EMAIL, issuer_of, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

RULES = [
    {"methods": ["DELETE"], "path": "/items", "scopes": ["items:write"]},
    {"methods": ["POST"], "path": "/items", "scopes": ["profile"]},
    {"path": "/admin/", "deny": True},
    {"path": "/billing", "claims": {"groups": "billing"}},
    {"path": "/mine", "claims": {"email": [USER_EMAIL, "someone@example.com"]}},
]


@pytest.fixture
def ruled(echo_server, wired, settings):
    """The echo upstream as `echo` with RULES, and as `open` without any."""
    settings.BFF_UPSTREAMS = {
        "echo": {"url": f"{echo_server.url}/base", "rules": RULES},
        "open": f"{echo_server.url}/base",
        "public": {"url": f"{echo_server.url}/base", "token": "user_or_none"},
    }
    settings.BFF_ROUTE_RULES = {"public": [{"path": "/mine", "claims": {"email": USER_EMAIL}}]}
    echo_server.reset()
    return echo_server


def reached(echo) -> list[tuple[str, str]]:
    return [(seen["method"], seen["path"]) for seen in echo.seen]


def assert_forbidden(response: requests.Response, required: dict) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["error"] == "forbidden"
    assert body["required"] == required
    assert body["message"]


def test_a_deny_rule_refuses_every_spelling_and_the_upstream_hears_nothing(ruled, user, wired):
    for path in ("admin", "admin/", "admin/users", "ADMIN/users", "%61dmin/x", "admin;x/users"):
        assert_forbidden(user.get(f"{wired.bff}/api/echo/{path}"), {"deny": True})
    assert_forbidden(user.delete(f"{wired.bff}/api/echo/admin/users/1"), {"deny": True})
    # A path that only starts with the same letters is another path.
    assert user.get(f"{wired.bff}/api/echo/administrators").status_code == 200
    assert reached(ruled) == [("GET", "/base/administrators")]


def test_scopes_come_from_the_access_token(ruled, user, wired):
    # The built-in provider's JWT says scope="openid profile email offline_access".
    created = user.post(f"{wired.bff}/api/echo/items", json={"name": "x"})
    assert created.status_code == 200, created.text
    refused = user.delete(f"{wired.bff}/api/echo/items/7")
    assert_forbidden(refused, {"scopes": ["items:write"]})
    # Other methods on the same path are not concerned by the rule.
    assert user.get(f"{wired.bff}/api/echo/items/7").status_code == 200
    assert reached(ruled) == [("POST", "/base/items"), ("GET", "/base/items/7")]
    assert refused.json()["request_id"] == refused.headers["X-Request-ID"]


def test_a_token_granted_fewer_scopes_is_refused(ruled, wired, browser, settings):
    settings.OIDC_PROVIDERS = {
        "oidc": {
            "issuer": issuer_of(wired.idp),
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scopes": "openid email offline_access",
        }
    }
    reset_providers()
    sign_in(browser, wired.bff)
    browser.headers.update({"X-CSRF": "1", "Origin": wired.bff})
    response = browser.post(f"{wired.bff}/api/echo/items", json={"name": "x"})
    assert_forbidden(response, {"scopes": ["profile"]})
    assert ruled.seen == []


def test_claims_come_from_the_users_id_token(ruled, user, wired):
    assert user.get(f"{wired.bff}/api/echo/mine/things").status_code == 200
    assert_forbidden(
        user.get(f"{wired.bff}/api/echo/billing/invoices"), {"claims": {"groups": ["billing"]}}
    )
    assert reached(ruled) == [("GET", "/base/mine/things")]


def test_rules_from_both_settings_apply_and_a_claim_rule_asks_a_visitor_to_sign_in(
    ruled, wired, browser
):
    browser.headers.update({"X-CSRF": "1"})
    anonymous = browser.get(f"{wired.bff}/api/public/mine")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "not_signed_in"
    assert browser.get(f"{wired.bff}/api/public/elsewhere").status_code == 200
    sign_in(browser, wired.bff)
    assert browser.get(f"{wired.bff}/api/public/mine").status_code == 200
    assert reached(ruled) == [("GET", "/base/elsewhere"), ("GET", "/base/mine")]


def test_an_upstream_without_rules_lets_everything_through(ruled, user, wired):
    assert user.delete(f"{wired.bff}/api/open/admin/items").status_code == 200
    assert reached(ruled) == [("DELETE", "/base/admin/items")]


def test_a_get_rule_covers_head(ruled, user, wired, settings):
    settings.BFF_ROUTE_RULES = {"open": [{"methods": ["GET"], "path": "/", "scopes": ["nope"]}]}
    head = user.head(f"{wired.bff}/api/open/x")
    assert head.status_code == 403
    assert user.post(f"{wired.bff}/api/open/x").status_code == 200
    assert reached(ruled) == [("POST", "/base/x")]


def test_the_demo_api_behind_a_rule(wired, user, settings):
    settings.BFF_UPSTREAMS = {
        "demo": {
            "url": f"{wired.demo.url}/rest",
            "rules": [
                {"methods": ["POST"], "path": "/items", "scopes": ["profile"]},
                {"path": "/admin", "deny": True},
            ],
        }
    }
    created = user.post(f"{wired.bff}/api/demo/items", json={"name": "ruled"})
    assert created.status_code == 201, created.text
    assert "ruled" in [
        item["name"] for item in user.get(f"{wired.bff}/api/demo/items").json()["items"]
    ]
    # Without the rule the demo API answers 404 here; with it the BFF refuses first.
    assert_forbidden(user.get(f"{wired.bff}/api/demo/admin/users"), {"deny": True})


# --- The rules themselves ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, path, matches",
    [
        ("/items", "/items", True),
        ("/items", "/items/", True),
        ("/items/", "/items/7", True),
        ("/items", "/itemsx", False),
        ("/Items", "/items;jsessionid=1/7", True),
        ("/a b", "/a%20b", True),
        ("/", "", True),
    ],
)
def test_rule_paths_match_on_segments(raw, path, matches):
    rules = parse_rules("rules", [{"path": raw, "deny": True}], ALL_METHODS)
    found = refusal(rules, "GET", comparable_path(path), frozenset, dict)
    assert (found == {"deny": True}) is matches


def test_every_matching_rule_applies():
    rules = parse_rules(
        "rules",
        [
            {"path": "/a", "scopes": ["read"]},
            {"path": "/a/b", "scopes": ["write"], "claims": {"groups": ["x", "y"]}},
            {"path": "/a/b", "claims": {"groups": "z"}},
        ],
        ALL_METHODS,
    )
    assert refusal(rules, "GET", "/a/b", lambda: frozenset({"read"}), lambda: {}) == {
        "scopes": ["write"],
        "claims": {"groups": ["x", "y", "z"]},
    }
    held = {"groups": ["y", "z"]}
    assert refusal(rules, "GET", "/a/b", lambda: frozenset({"read", "write"}), lambda: held) is None
    assert refusal(rules, "GET", "/c", frozenset, dict) is None


@pytest.mark.parametrize(
    "rule, fix",
    [
        ("deny", "a rule is an object"),
        ({"deny": True}, '"path" is required'),
        ({"path": "admin", "deny": True}, '"path" is required'),
        ({"path": "/a"}, "the rule requires nothing"),
        ({"path": "/a", "deny": "yes"}, '"deny" is true or false'),
        ({"path": "/a", "deny": True, "scopes": ["x"]}, 'drop its "scopes"'),
        ({"path": "/a", "scope": ["x"]}, "unknown key 'scope'"),
        ({"path": "/a", "scopes": "x"}, '"scopes" is a list'),
        ({"path": "/a", "scopes": ["a b"]}, '"scopes" is a list'),
        ({"path": "/a", "methods": ["FETCH"], "deny": True}, "unknown method 'FETCH'"),
        ({"path": "/a", "methods": "GET", "deny": True}, '"methods" is a list'),
        ({"path": "/a", "claims": {"groups": 3}}, '"claims" maps a claim'),
        ({"path": "/a", "claims": {"groups": []}}, '"claims" maps a claim'),
        ({"path": "/a", "claims": ["groups"]}, '"claims" maps a claim'),
    ],
)
def test_a_malformed_rule_says_what_to_fix(rule, fix):
    with pytest.raises(ImproperlyConfigured) as raised:
        parse_rules("BFF_UPSTREAMS['demo']['rules']", [rule], ALL_METHODS)
    assert str(raised.value).startswith("BFF_UPSTREAMS['demo']['rules'][0]: ")
    assert fix in str(raised.value)


def test_rules_are_a_list():
    with pytest.raises(ImproperlyConfigured, match="is a list of rules"):
        parse_rules("BFF_ROUTE_RULES['demo']", {"path": "/a", "deny": True}, ALL_METHODS)
