"""Gateway configuration: rules and budgets from the environment, a malformed one stopping
the process with what to fix (gunicorn, manage.py check), and `manage.py gateway_routes`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.core.management import call_command

from tests.support.echo_upstream import EchoUpstream
from tests.support.servers import ROOT, Server

RULES = {
    "echo": [
        {"methods": ["DELETE"], "path": "/items", "scopes": ["items:write"]},
        {"path": "/admin/", "deny": True},
    ]
}


SETTINGS = """
from tests.settings import *  # noqa: F403

BFF_UPSTREAMS = {{"echo": {{"url": "{echo}/base", "token": "none"}}}}
"""


def bff_server(workdir: Path, echo_url: str, env: dict[str, str]) -> Server:
    """The BFF under gunicorn with the test settings, one upstream `echo` that needs no
    token, and the environment given."""
    (workdir / "gateway_settings.py").write_text(SETTINGS.format(echo=echo_url))
    return Server(
        name="bff-gateway",
        settings_module="config.settings",
        workdir=workdir,
        threads=2,
        ready_path="/healthz",
        env={
            "DJANGO_SETTINGS_MODULE": "gateway_settings",
            "PYTHONPATH": str(workdir),
            "DATABASE_URL": f"sqlite:///{workdir / 'unused.sqlite3'}",
            **env,
        },
    )


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """manage.py with the test settings and one upstream `echo` (never called)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "BFF_UPSTREAMS": "echo=http://127.0.0.1:9/base",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoUpstream]:
    server = EchoUpstream().start()
    yield server
    server.stop()


def test_rules_from_the_environment_apply_under_gunicorn(echo, tmp_path):
    env = {"BFF_ROUTE_RULES": json.dumps({"echo": [{"path": "/admin", "deny": True}]})}
    server = bff_server(tmp_path, echo.url, env).start()
    try:
        echo.reset()
        refused = requests.get(f"{server.url}/api/echo/admin/x", headers={"X-CSRF": "1"})
        assert refused.status_code == 403
        assert refused.json()["required"] == {"deny": True}
        assert requests.get(f"{server.url}/api/echo/x", headers={"X-CSRF": "1"}).status_code == 200
        assert [seen["path"] for seen in echo.seen] == ["/base/x"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    "env, fix",
    [
        (
            {"BFF_ROUTE_RULES": '{"echo": [{"path": "/admin", "scope": ["x"]}]}'},
            "BFF_ROUTE_RULES['echo'][0]: unknown key 'scope'; a rule has path, methods, scopes",
        ),
        ({"BFF_ROUTE_RULES": '{"echo": [{"path": "/a"'}, "BFF_ROUTE_RULES is not JSON"),
        ({"BFF_ROUTE_RULES": '{"ecko": []}'}, "there is no upstream 'ecko'"),
        ({"BFF_RATE_LIMITS": "session=lots"}, "BFF_RATE_LIMITS['session']: 'lots' is not a budget"),
    ],
)
def test_a_malformed_rule_or_budget_stops_gunicorn_with_what_to_fix(echo, tmp_path, env, fix):
    server = bff_server(tmp_path, echo.url, env)
    with pytest.raises(RuntimeError, match="exited early") as raised:
        server.start()
    assert fix in str(raised.value)


def test_manage_py_check_reports_a_malformed_rule():
    result = manage("check", env={"BFF_ROUTE_RULES": '{"echo": [{"path": "admin", "deny": true}]}'})
    assert result.returncode == 1
    assert "(bff.E002) BFF_ROUTE_RULES['echo'][0]: \"path\" is required" in result.stderr


def test_gateway_routes_lists_each_upstream_with_its_rules_and_budgets():
    result = manage(
        "gateway_routes",
        env={"BFF_ROUTE_RULES": json.dumps(RULES), "BFF_RATE_LIMITS": "session=120/60"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "echo  http://127.0.0.1:9/base",
        "  token: user   methods: any",
        "  rate limits: session 120/60s",
        "  #  methods  path    requires",
        "  1  DELETE   /items  scopes: items:write",
        "  2  any      /admin  deny",
    ]


def test_gateway_routes_shows_claims_and_upstreams_without_rules(settings, capsys):
    settings.BFF_UPSTREAMS = {
        "billing": {
            "url": "https://billing.example/api",
            "methods": ["GET", "POST"],
            "rules": [
                {"methods": ["GET"], "path": "/", "claims": {"groups": ["billing", "finance"]}}
            ],
            "rate_limits": {"anonymous": [10, 60], "upstream": "1000/1"},
        },
        "graphql": "https://api.example/graphql",
    }
    call_command("gateway_routes")
    assert capsys.readouterr().out.splitlines() == [
        "billing  https://billing.example/api",
        "  token: user   methods: GET, POST",
        "  rate limits: anonymous 10/60s, upstream 1000/1s",
        "  #  methods    path  requires",
        "  1  GET, HEAD  /     claim groups: billing or finance",
        "",
        "graphql  https://api.example/graphql",
        "  token: user   methods: any",
        "  rate limits: off",
        "  rules: none, every path is open",
    ]
