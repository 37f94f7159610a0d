"""Slow clients. A gunicorn thread reads its request itself: 60 connections that send their
headers a byte at a time hold every thread of instance b (2 workers x 4 threads) and
nobody else is served. Behind deploy/nginx.conf (Debian's nginx, the shipped file) nginx
holds them instead, and signed-in requests are served as if they were not there. Also: the
forwarded headers nginx sets are the only ones gunicorn and the BFF believe."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.nginx import Nginx

pytestmark = pytest.mark.scaleout

SLOW_CLIENTS = 60
# Each sends one more byte every this often: a head never completes within the test.
BYTE_EVERY = 0.5
NORMAL_REQUESTS = 8
NORMAL_TIMEOUT = 2.0


class SlowClients:
    """Connections sending `GET /healthz` headers one byte at a time, until closed."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.sockets: list[socket.socket] = []
        self.cut = 0  # connections the server closed on them
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, daemon=True)

    @staticmethod
    def _head() -> Iterator[bytes]:
        start = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for byte in itertools.chain(start, itertools.cycle(b"X-Slow: 1\r\n")):
            yield bytes([byte])

    def __enter__(self) -> SlowClients:
        for _ in range(self.count):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            self.sockets.append(sock)
            time.sleep(0.01)  # spread over both gunicorn workers' accept loops
        self._thread.start()
        time.sleep(2 * BYTE_EVERY)  # every one has sent its first bytes
        return self

    def _drip(self) -> None:
        heads = [self._head() for _ in self.sockets]
        alive = list(zip(self.sockets, heads, strict=True))
        while not self._stop.wait(BYTE_EVERY):
            for sock, head in list(alive):
                try:
                    sock.sendall(next(head))
                except OSError:
                    alive.remove((sock, head))
                    self.cut += 1

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.sockets:
            sock.close()


def normal_requests(base: str, cookies: dict[str, str]) -> list[float | None]:
    """NORMAL_REQUESTS signed-in calls at once; each one's seconds, None when unanswered."""

    def one(index: int) -> float | None:
        path = "/api/echo/ping" if index % 2 else "/auth/session"
        started = time.monotonic()
        try:
            answer = requests.get(
                base + path, cookies=cookies, headers={"X-CSRF": "1"}, timeout=NORMAL_TIMEOUT
            )
        except requests.RequestException:
            return None
        return time.monotonic() - started if answer.status_code == 200 else None

    with ThreadPoolExecutor(NORMAL_REQUESTS) as pool:
        return list(pool.map(one, range(NORMAL_REQUESTS)))


@pytest.fixture(scope="module")
def nginx(stack, tmp_path_factory) -> Iterator[Nginx]:
    server = Nginx(
        tmp_path_factory.mktemp("nginx"),
        port=stack.nginx_port,
        upstreams=[f"127.0.0.1:{stack.b.port}"],
    ).start()
    yield server
    server.stop()


def test_slow_clients_starve_gunicorn_on_its_own_but_not_behind_nginx(clean, nginx):
    stack = clean
    session = stack.sign_in(bff=stack.b)
    assert all(normal_requests(stack.b.url, session.cookies)), "b is not serving to begin with"

    with SlowClients(stack.b.port, SLOW_CLIENTS):
        direct = normal_requests(stack.b.url, session.cookies)
    time.sleep(0.5)  # their threads are free again
    with SlowClients(nginx.port, SLOW_CLIENTS) as slow:
        behind = normal_requests(nginx.url, session.cookies)
        still_open = SLOW_CLIENTS - slow.cut

    served_direct = [took for took in direct if took is not None]
    served_behind = [took for took in behind if took is not None]
    print(
        f"\n{SLOW_CLIENTS} slow clients: gunicorn alone served {len(served_direct)}/"
        f"{NORMAL_REQUESTS} within {NORMAL_TIMEOUT}s; behind nginx {len(served_behind)}/"
        f"{NORMAL_REQUESTS}, slowest {max(served_behind, default=0):.3f}s"
    )
    # The motivation: on its own, gunicorn gives its threads to the slow clients.
    assert len(served_direct) < NORMAL_REQUESTS // 2
    # Behind nginx everyone is served, quickly, while the slow clients are still there.
    assert len(served_behind) == NORMAL_REQUESTS
    assert max(served_behind) < 1.0
    assert still_open == SLOW_CLIENTS


def test_behind_nginx_only_its_own_forwarded_headers_count(clean, nginx):
    stack = clean
    session = stack.sign_in(bff=stack.b)
    stack.echo.reset()
    answer = requests.get(
        f"{nginx.url}/api/echo/who",
        cookies=session.cookies,
        headers={
            "X-CSRF": "1",
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
            "Forwarded": "for=203.0.113.9;proto=https",
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    seen = stack.echo.seen[-1]["headers"]
    assert seen["x-forwarded-for"] == "127.0.0.1"  # nginx's $remote_addr, not the client's word
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == f"127.0.0.1:{nginx.port}"
    assert "forwarded" not in seen
