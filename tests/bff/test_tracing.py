"""OpenTelemetry traces (bff/tracing.py), recorded in memory: a span per request, refresh
grant, lock wait and upstream call, and the trace carried to the upstream."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest
import requests
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from bff import tracing
from tests.bff.conftest import make_due
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

# A trace a client says it belongs to.
CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_PARENT = f"00-{CLIENT_TRACE}-b7ad6b7169203331-01"


@pytest.fixture
def spans(settings) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings.BFF_TRACING = True
    tracing.configure(provider)
    yield exporter
    tracing.configure(None)


@pytest.fixture
def user(lenient, settings, echo_server, live_server, browser) -> requests.Session:
    settings.BFF_UPSTREAMS = {"echo": f"{echo_server.url}/base"}
    echo_server.reset()
    sign_in(browser, live_server.url)
    browser.headers["X-CSRF"] = "1"
    return browser


def by_name(exporter: InMemorySpanExporter) -> dict[str, list]:
    found: dict[str, list] = {}
    for span in exporter.get_finished_spans():
        found.setdefault(span.name, []).append(span)
    return found


def test_an_api_call_with_a_refresh_is_one_trace_carried_upstream(
    user, spans, live_server, echo_server
):
    make_due()
    spans.clear()
    response = user.get(
        f"{live_server.url}/api/echo/things", headers={"traceparent": CLIENT_PARENT}
    )
    assert response.status_code == 200, response.text

    found = by_name(spans)
    (request,) = found["GET api"]
    (refresh,) = found["bff.refresh"]
    (lock_wait,) = found["bff.lock_wait"]
    (call,) = found["bff.upstream"]
    assert request.kind == SpanKind.SERVER
    assert request.attributes["http.route"] == "api"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["bff.request_id"] == response.headers["X-Request-ID"]
    assert refresh.attributes["bff.provider"] == "oidc"
    assert call.attributes["bff.upstream"] == "echo"
    trace_id = request.context.trace_id
    for child in (refresh, lock_wait, call):
        assert child.context.trace_id == trace_id
    assert call.parent.span_id == request.context.span_id
    # A browser's traceparent is not believed: the trace starts here.
    assert format(trace_id, "032x") != CLIENT_TRACE
    # The upstream continues the trace, as a child of the call's span.
    (seen,) = echo_server.seen
    version, seen_trace, seen_parent, _ = seen["headers"]["traceparent"].split("-")
    assert (seen_trace, seen_parent) == (
        format(trace_id, "032x"),
        format(call.context.span_id, "016x"),
    )
    assert "baggage" not in seen["headers"]


def test_a_trusted_proxys_trace_is_continued(user, spans, live_server, settings):
    settings.BFF_TRUSTED_PROXIES = ["127.0.0.1"]
    spans.clear()
    user.get(f"{live_server.url}/auth/session", headers={"traceparent": CLIENT_PARENT})
    (request,) = by_name(spans)["GET accounts:session"]
    assert format(request.context.trace_id, "032x") == CLIENT_TRACE


def test_a_failed_refresh_marks_its_span(user, spans, live_server, lenient):
    lenient.proxy.mode = "error"
    make_due()
    spans.clear()
    assert user.get(f"{live_server.url}/auth/session").status_code == 200
    (refresh,) = by_name(spans)["bff.refresh"]
    assert refresh.status.status_code == StatusCode.ERROR


def test_without_the_packages_tracing_stays_off(live_server, settings, monkeypatch, caplog):
    settings.BFF_TRACING = True
    tracing.configure(None)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    caplog.set_level(logging.WARNING, logger="bff.tracing")
    assert requests.get(f"{live_server.url}/healthz", timeout=10).status_code == 200
    assert tracing.tracer() is None
    assert "opentelemetry is not installed" in caplog.text
    tracing.configure(None)


def test_off_by_default(settings):
    assert settings.BFF_TRACING is False
    assert tracing.tracer() is None
    headers: dict[str, str] = {}
    tracing.inject(headers)
    assert headers == {}
