"""LOG_FORMAT=json: one JSON object per line with the request id, and never a token, a code,
a cookie or an Authorization value in it. (The key=value default: tests/accounts/
test_callback.py test_no_code_token_or_secret_reaches_the_logs; JSON under gunicorn:
tests/bff/test_observability_gunicorn.py.)"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import RequestFactory

from bff.logging import JsonFormatter, RequestIDFilter, request_id_var
from bff.models import TokenSession
from tests.bff.conftest import make_due
from tests.bff.test_metrics import sign_out
from tests.conftest import CLIENT_SECRET, USER_EMAIL, USER_PASSWORD
from tests.support.idp import provider_sign_in
from tests.support.servers import ROOT


def formatted(record: logging.LogRecord) -> dict:
    RequestIDFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    return json.loads(line)


def make_record(msg: str, *args: object, exc_info=None, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("bff.proxy", logging.WARNING, __file__, 1, msg, args, exc_info)
    record.__dict__.update(extra)
    return record


def test_a_line_has_time_level_logger_message_request_id_and_extra_fields():
    token = request_id_var.set("req-0123456789")
    try:
        line = formatted(make_record("api upstream=%s status=%s", "demo", 502, upstream="demo"))
    finally:
        request_id_var.reset(token)
    assert list(line)[:5] == ["time", "level", "logger", "message", "request_id"]
    assert line["time"].endswith("+00:00")
    assert line["level"] == "WARNING"
    assert line["logger"] == "bff.proxy"
    assert line["message"] == "api upstream=demo status=502"
    assert line["request_id"] == "req-0123456789"
    assert line["upstream"] == "demo"


def test_an_exception_is_one_line_too():
    try:
        raise ValueError("broken")
    except ValueError:
        line = formatted(make_record("failed", exc_info=sys.exc_info()))
    assert "ValueError: broken" in line["exc_info"]


def test_credentials_in_extra_fields_and_request_queries_are_never_written():
    request = RequestFactory().get("/auth/callback/oidc?code=the-code&state=the-state")
    line = formatted(
        make_record(
            "Bad Request: %s",
            request.path,
            request=request,
            access_token="the-access-token",
            Authorization="Bearer the-access-token",
            cookie="bff_session=the-cookie",
            status_code=400,
            when=object(),
        )
    )
    text = json.dumps(line)
    for secret in ("the-code", "the-state", "the-access-token", "the-cookie"):
        assert secret not in text
    assert line["request"] == {"method": "GET", "path": "/auth/callback/oidc"}
    assert line["access_token"] == line["Authorization"] == line["cookie"] == "[redacted]"
    assert line["status_code"] == 400
    assert line["when"] == "<object>"


SHOW_LOGGING = """
import json, django
django.setup()
from django.conf import settings
print(settings.LOGGING["handlers"]["console"]["formatter"])
"""


def formatter_for(log_format: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LOG_FORMAT"}
    if log_format is not None:
        env["LOG_FORMAT"] = log_format
    return subprocess.run(
        [sys.executable, "-c", SHOW_LOGGING],
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_log_format_selects_the_formatter_and_key_value_stays_the_default():
    assert formatter_for(None).stdout.strip() == "kv"
    assert formatter_for("json").stdout.strip() == "json"
    refused = formatter_for("xml")
    assert refused.returncode != 0
    assert "LOG_FORMAT is kv" in refused.stderr


# --- A session's life, every log record as JSON ---------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_no_token_code_or_cookie_reaches_the_json_logs(
    lenient, live_server, browser, settings, echo_server, caplog
):
    caplog.set_level(logging.DEBUG)
    settings.BFF_UPSTREAMS = {"echo": f"{echo_server.url}/base"}
    bff = live_server.url
    start = browser.get(
        f"{bff}/auth/login?{urlencode({'next': '/', 'again': '1'})}", allow_redirects=False
    )
    to_callback = provider_sign_in(browser, start.headers["Location"], USER_EMAIL, USER_PASSWORD)
    callback = to_callback.headers["Location"]
    assert browser.get(callback, allow_redirects=False).status_code == 302
    signed_in = TokenSession.objects.live().get().tokens
    make_due()
    api = browser.get(f"{bff}/api/echo/things?x=1", headers={"X-CSRF": "1"})
    assert api.status_code == 200
    refreshed = TokenSession.objects.live().get().tokens
    assert refreshed.refresh_token != signed_in.refresh_token
    cookie = browser.cookies.get("bff_session")
    sign_out(browser, bff)

    query = parse_qs(urlsplit(callback).query)
    secrets = [query["code"][0], query["state"][0], CLIENT_SECRET, cookie]
    for tokens in (signed_in, refreshed):
        secrets += [tokens.access_token, tokens.refresh_token, tokens.id_token]
    # This test's own requests (as the browser) log their URLs in this thread; the BFF's
    # run in the live server's threads.
    test_thread = threading.get_ident()
    lines = [
        JsonFormatter().format(record)
        for record in caplog.records
        if record.thread != test_thread and record.name != "werkzeug"
    ]
    assert any('"logger": "bff.proxy"' in line and "upstream=echo" in line for line in lines)
    log = "\n".join(lines)
    for secret in secrets:
        assert secret and secret not in log
