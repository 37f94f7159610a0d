"""The relay the fault tests stand on does what each mode says, to new and open connections."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.relay import Relay


@pytest.fixture
def relay() -> Iterator[Relay]:
    """A relay in front of a TCP echo server."""
    server = socket.create_server(("127.0.0.1", 0))

    def echo(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the relay cuts with a reset
            while data := conn.recv(1024):
                conn.sendall(data)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    relay = Relay("127.0.0.1", server.getsockname()[1])
    yield relay
    relay.stop()
    server.close()


def connect(relay: Relay, timeout: float = 1.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", relay.port), timeout=timeout)


def ask(sock: socket.socket, data: bytes = b"ping") -> bytes:
    sock.sendall(data)
    return sock.recv(1024)


def is_cut(sock: socket.socket) -> bool:
    try:
        return ask(sock) == b""
    except ConnectionError:
        return True


def test_pass_forwards_both_ways(relay):
    with connect(relay) as sock:
        assert ask(sock) == b"ping"


def test_refuse_cuts_open_connections_and_closes_new_ones(relay):
    with connect(relay) as open_one:
        assert ask(open_one) == b"ping"
        relay.set_mode("refuse")
        time.sleep(0.1)
        assert is_cut(open_one)
    try:  # reset so fast that even the connect may see it
        with connect(relay) as new_one:
            assert is_cut(new_one)
    except ConnectionError:
        pass
    relay.set_mode("pass")
    with connect(relay) as sock:
        assert ask(sock) == b"ping"


def test_drop_answers_nothing_then_cuts_what_lost_bytes(relay):
    with connect(relay, timeout=0.3) as open_one, connect(relay) as idle_one:
        assert ask(open_one) == b"ping"
        relay.set_mode("drop")
        with connect(relay, timeout=0.3) as new_one:
            for sock in (open_one, new_one):
                with pytest.raises(TimeoutError):
                    ask(sock)
            relay.set_mode("pass")
            time.sleep(0.1)
            assert is_cut(open_one) and is_cut(new_one)
        # A connection that sent nothing during the drop lost nothing: it carries on.
        assert ask(idle_one) == b"ping"


def test_slow_delays_each_chunk(relay):
    relay.set_mode("slow", delay=0.3)
    with connect(relay) as sock:
        started = time.monotonic()
        assert ask(sock) == b"ping"
        # Once on the way in, once on the way back.
        assert time.monotonic() - started >= 0.6
