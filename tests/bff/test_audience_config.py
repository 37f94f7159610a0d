"""An upstream's audience: the dict form, its errors, and the environment form."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from bff.audiences import EXCHANGE, RESOURCE, Audience
from bff.upstreams import get_upstream
from tests.support.servers import ROOT


def test_dict_form_builds_each_mechanism(settings):
    settings.BFF_UPSTREAMS = {
        "plain": "https://api.example/rest",
        "billing": {
            "url": "https://billing.example",
            "audience": {"resource": "https://b.example"},
        },
        "ledger": {
            "url": "https://ledger.example",
            "audience": {"exchange": "ledger-api", "scope": "ledger:read"},
        },
    }
    assert get_upstream("plain").audience is None
    assert get_upstream("billing").audience == Audience(RESOURCE, "https://b.example")
    assert get_upstream("ledger").audience == Audience(EXCHANGE, "ledger-api", "ledger:read")


@pytest.mark.parametrize(
    "audience, says",
    [
        ("https://b.example", "must be a dict"),
        ({}, "exactly one of"),
        ({"resource": "https://b.example", "exchange": "x"}, "exactly one of"),
        ({"resource": "https://b.example", "typo": "x"}, "exactly one of"),
        ({"resource": "billing"}, "absolute URI"),
        ({"resource": "https://b.example/#frag"}, "without a fragment"),
        ({"resource": "https://b.example", "scope": "read"}, "'scope' goes with 'exchange'"),
        ({"exchange": ""}, "must be strings"),
        ({"exchange": "x", "scope": 3}, "must be strings"),
    ],
)
def test_a_malformed_audience_says_what_to_fix(settings, audience, says):
    settings.BFF_UPSTREAMS = {"bad": {"url": "https://api.example", "audience": audience}}
    with pytest.raises(ImproperlyConfigured, match=says):
        get_upstream("bad")


def test_an_audience_needs_the_users_token(settings):
    settings.BFF_UPSTREAMS = {
        "bad": {"url": "https://x.example", "token": "client", "audience": {"exchange": "x"}}
    }
    with pytest.raises(ImproperlyConfigured, match="minted from the user's token"):
        get_upstream("bad")


SHOW = """
import json, django
django.setup()
from bff.upstreams import upstreams
print(json.dumps({n: u.audience and u.audience.__dict__ for n, u in upstreams().items()}))
"""


def audiences_from(env: dict[str, str]) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "DJANGO_", "BFF_"))}
    completed = subprocess.run(
        [sys.executable, "-c", SHOW],
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_environment_form():
    assert audiences_from(
        {
            "BFF_UPSTREAMS": "demo=https://api.example,billing=https://b.example,my-ledger=https://l.example",
            "BFF_UPSTREAM_AUDIENCE_BILLING": "resource=https://b.example/api",
            "BFF_UPSTREAM_AUDIENCE_MY_LEDGER": "exchange=ledger-api&scope=ledger:read ledger:list",
        }
    ) == {
        "demo": None,
        "billing": {"mechanism": "resource", "target": "https://b.example/api", "scope": ""},
        "my-ledger": {
            "mechanism": "exchange",
            "target": "ledger-api",
            "scope": "ledger:read ledger:list",
        },
    }


def test_demo_wiring_mints_for_the_billing_api():
    assert audiences_from({})["billing"] == {
        "mechanism": "resource",
        "target": "http://127.0.0.1:8002/billing",
        "scope": "",
    }
