"""`make run`'s billing API: the demo API takes only a token minted for it, which the BFF
gets with a resource indicator from the built-in provider (docs/gateway.md)."""

from __future__ import annotations

import pytest

from tests.conftest import DEMO_BILLING_RESOURCE, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_billing_api_answers_the_audience_token_and_refuses_the_sessions(wired, browser, settings):
    billing = f"{wired.demo.url}/billing"
    settings.BFF_UPSTREAMS = {
        "graphql": f"{wired.demo.url}/graphql",
        "demo": f"{wired.demo.url}/rest",
        "billing": {"url": billing, "audience": {"resource": DEMO_BILLING_RESOURCE}},
        "billing-unminted": billing,  # misconfigured: the session's own token
    }
    sign_in(browser, wired.bff)
    headers = {"X-CSRF": "1", "Origin": wired.bff}
    summary = browser.get(f"{wired.bff}/api/billing/summary", headers=headers)
    assert summary.status_code == 200, summary.text
    assert summary.json()["audience"] == DEMO_BILLING_RESOURCE
    assert browser.get(f"{wired.bff}/api/demo/items", headers=headers).status_code == 200
    refused = browser.get(f"{wired.bff}/api/billing-unminted/summary", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"
    # The dashboard shows it, as in `make run`.
    dashboard = browser.get(f"{wired.bff}/")
    assert dashboard.status_code == 200
    assert f"<code>{DEMO_BILLING_RESOURCE}</code>" in dashboard.text
