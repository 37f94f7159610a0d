"""Fixtures for live data: a live upstream (SSE + WebSocket echo) and the BFF's ASGI
application, both under uvicorn in this process; a reader of event streams."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from django.core.asgi import get_asgi_application

from bff.live.websocket import with_websockets
from tests.support.asgi import ThreadedUvicorn
from tests.support.demo import start_demo
from tests.support.live_upstream import LiveUpstream
from tests.support.servers import Server


class RunningUpstream:
    def __init__(self) -> None:
        self.app = LiveUpstream()
        self.server = ThreadedUvicorn(self.app).start()
        self.url = self.server.url


@pytest.fixture(scope="module")
def live_upstream() -> Iterator[RunningUpstream]:
    upstream = RunningUpstream()
    yield upstream
    upstream.server.stop()


@pytest.fixture(scope="module")
def bff_asgi() -> Iterator[ThreadedUvicorn]:
    """The BFF's ASGI application (WebSockets) on its own port, as deployed beside WSGI."""
    server = ThreadedUvicorn(with_websockets(get_asgi_application())).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_demo(idp, tmp_path_factory) -> Iterator[Server]:
    """The demo API under uvicorn: REST, GraphQL, and its live data."""
    server = start_demo(tmp_path_factory.mktemp("live-demo"), issuer=f"{idp.url}/o", asgi=True)
    yield server
    server.stop()


def read_events(response: requests.Response) -> Iterator[tuple[float, str]]:
    """(time received, event text) per event, read as the bytes arrive."""
    buffer = b""
    while True:
        chunk = response.raw.read1(65536)
        if not chunk:
            return
        received = time.monotonic()
        buffer += chunk
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            yield received, event.decode()


def field(event: str, name: str) -> str | None:
    for line in event.splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return value.strip()
    return None
