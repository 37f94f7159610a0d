"""Response headers: a strict Content-Security-Policy, a Permissions-Policy, and the
session cookie pinned to the host with the __Host- prefix under HTTPS."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from django.test import Client

from tests.support.servers import ROOT
from tests.test_deploy_check import PRODUCTION

pytestmark = pytest.mark.django_db


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.parametrize("path", ["/auth/logout", "/no/such/page", "/auth/session"])
def test_pages_carry_a_strict_content_security_policy(path):
    response = Client().get(path)
    policy = directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert not any("unsafe" in value for values in policy.values() for value in values)


def test_forms_may_post_only_here_and_to_the_providers(settings):
    policy = directives(Client().get("/auth/logout")["Content-Security-Policy"])
    assert policy["form-action"][0] == "'self'"
    assert all(v.startswith(("http://", "https://")) for v in policy["form-action"][1:])


def test_pages_deny_browser_features_they_never_use():
    policy = Client().get("/auth/logout")["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in policy


def test_templates_hold_no_inline_script_or_handler():
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, f"inline script in {template}"
        assert not re.search(r"\son[a-z]+\s*=", text), f"inline event handler in {template}"
        assert "style=" not in text, f"inline style in {template}"


def test_over_https_the_session_cookie_is_a_host_cookie():
    show = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SESSION_COOKIE_NAME, s.SESSION_COOKIE_SECURE, "
        "s.SESSION_COOKIE_PATH, s.SESSION_COOKIE_DOMAIN, s.SESSION_COOKIE_HTTPONLY]))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", show],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", **PRODUCTION},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == ["__Host-bff_session", True, "/", None, True]
