"""Optional OpenTelemetry traces: a span per request, refresh grant, lock wait and upstream call.

Off unless BFF_TRACING is on (config/settings.py turns it on when OTEL_EXPORTER_OTLP_ENDPOINT
is set) and the opentelemetry packages are installed (`pip install 'django-bff[otel]'`); off,
each helper costs one settings read. The OTLP exporter reads the OTEL_* variables itself
(endpoint, headers, OTEL_SERVICE_NAME). When the process already has a tracer provider
(`opentelemetry-instrument`), the spans go to it.

Only W3C trace context travels: it is read from a request only when it comes from one of
BFF_TRUSTED_PROXIES (a browser's traceparent is not believed), and `traceparent` is sent to
upstreams; baggage is neither read nor sent.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from ipaddress import ip_address
from typing import Any, TypeVar

from django.http import HttpRequest

from bff.addresses import trusted_networks
from bff.conf import bff_settings

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_guard = threading.Lock()
_tracer: Any = None
# The process the tracer was made in: a gunicorn worker makes its own (its exporter thread
# does not survive the fork).
_pid: int | None = None


def configure(provider: Any) -> None:
    """Send this process's spans to `provider` (an SDK TracerProvider); tests use it."""
    global _tracer, _pid
    with _guard:
        _tracer = provider.get_tracer("bff") if provider is not None else None
        _pid = os.getpid() if provider is not None else None


def tracer() -> Any:
    """The tracer, or None when tracing is off or cannot be on."""
    if not bff_settings.BFF_TRACING:
        return None
    if _pid != os.getpid():
        _set_up()
    return _tracer


def _set_up() -> None:
    global _tracer, _pid
    with _guard:
        if _pid == os.getpid():
            return
        _pid = os.getpid()
        try:
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            logger.warning("tracing is on but opentelemetry is not installed: no spans")
            _tracer = None
            return
        provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider):
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )
            except ImportError:
                logger.warning("tracing is on but the OTLP exporter is not installed: no spans")
                _tracer = None
                return
            provider = TracerProvider()
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        _tracer = provider.get_tracer("bff")


def _kind(name: str) -> Any:
    from opentelemetry.trace import SpanKind

    return getattr(SpanKind, name.upper())


@contextmanager
def span(
    name: str, attributes: dict[str, Any] | None = None, *, kind: str = "internal"
) -> Iterator[Any]:
    """A span around the block (the current one's child), or nothing when tracing is off."""
    current = tracer()
    if current is None:
        yield None
        return
    with current.start_as_current_span(name, kind=_kind(kind), attributes=attributes) as opened:
        yield opened


def traced(name: str, attributes: Callable[..., dict[str, Any]], *, kind: str = "internal"):
    """Decorate a function with a span; `attributes(*args, **kwargs)` names what it works on.
    A returned exception (the refresh's way of reporting an outcome) marks the span an error."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if tracer() is None:
                return function(*args, **kwargs)
            with span(name, attributes(*args, **kwargs), kind=kind) as opened:
                result = function(*args, **kwargs)
                if isinstance(result, Exception):
                    from opentelemetry.trace import StatusCode

                    opened.set_status(StatusCode.ERROR, type(result).__name__)
                return result

        return wrapper  # type: ignore[return-value]

    return decorate


def record_span(name: str, started: float, attributes: dict[str, Any] | None = None) -> None:
    """A span that began at `started` (time.monotonic()) and ends now: a wait, measured after."""
    current = tracer()
    if current is None:
        return
    end = time.time_ns()
    begin = end - int((time.monotonic() - started) * 1e9)
    current.start_span(name, start_time=begin, attributes=attributes).end(end_time=end)


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current span's traceparent to an upstream request's headers."""
    if tracer() is None:
        return
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    TraceContextTextMapPropagator().inject(headers)


def _from_trusted_proxy(request: HttpRequest) -> bool:
    try:
        peer = ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(peer in network for network in trusted_networks())


@contextmanager
def request_span(request: HttpRequest) -> Iterator[Any]:
    """The request's server span, continuing a trusted proxy's trace."""
    current = tracer()
    if current is None:
        yield None
        return
    context = None
    if _from_trusted_proxy(request):
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        context = TraceContextTextMapPropagator().extract(request.headers)
    method = request.method or "GET"
    with current.start_as_current_span(
        method, context=context, kind=_kind("server"), attributes={"http.request.method": method}
    ) as opened:
        yield opened


def end_request_span(opened: Any, request: HttpRequest, route: str, status: int) -> None:
    """Name the request's span by its route once the URL is resolved, with its outcome."""
    if opened is None:
        return
    opened.update_name(f"{request.method} {route}")
    opened.set_attribute("http.route", route)
    opened.set_attribute("http.response.status_code", status)
    opened.set_attribute("bff.request_id", getattr(request, "request_id", ""))
    if status >= 500:
        from opentelemetry.trace import StatusCode

        opened.set_status(StatusCode.ERROR)
