"""A kept-alive upstream connection that the upstream closed meanwhile (its idle timeout,
a restart) costs no user a 502: an idempotent call is sent again on a fresh connection."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

pytestmark = pytest.mark.django_db(transaction=True)


class ForgetfulUpstream:
    """Answers each connection's first request keep-alive; when a second one arrives on it,
    closes the connection without an answer, as a server does whose idle timeout fired
    just as the request was on its way."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.answered = 0
        self.dropped = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer_once, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_request(conn: socket.socket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        return True

    def _answer_once(self, conn: socket.socket) -> None:
        with conn:
            if not self._read_request(conn):
                return
            self.answered += 1
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            if self._read_request(conn):
                self.dropped += 1  # closed without an answer

    def stop(self) -> None:
        self.sock.close()


@pytest.fixture
def forgetful(settings) -> Iterator[ForgetfulUpstream]:
    upstream = ForgetfulUpstream()
    settings.BFF_UPSTREAMS = {"stale": {"url": upstream.url, "token": "none"}}
    yield upstream
    upstream.stop()


def test_a_stale_kept_alive_connection_is_replaced_for_an_idempotent_call(forgetful, live_server):
    call = {"headers": {"X-CSRF": "1"}, "timeout": 10}
    assert requests.get(f"{live_server.url}/api/stale/a", **call).status_code == 200
    time.sleep(0.3)  # the upstream has closed the connection the BFF keeps
    for path in ("b", "c"):
        response = requests.get(f"{live_server.url}/api/stale/{path}", **call)
        assert response.status_code == 200, response.text
        assert response.text == "ok"
        time.sleep(0.3)
    assert forgetful.answered == 3 and forgetful.dropped == 2


def test_a_non_idempotent_call_on_a_stale_connection_is_not_sent_twice(forgetful, live_server):
    headers = {"X-CSRF": "1", "Origin": live_server.url}
    assert requests.get(f"{live_server.url}/api/stale/a", headers=headers).status_code == 200
    time.sleep(0.3)
    response = requests.post(f"{live_server.url}/api/stale/b", data=b"x", headers=headers)
    # RFC 9112 9.3.1: a POST may have been applied; it is not sent again on its own.
    assert response.status_code == 502
    assert response.json()["error"] == "upstream_unreachable"
    assert forgetful.answered == 1
