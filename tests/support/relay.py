"""A TCP relay on 127.0.0.1 in front of a real service (PostgreSQL, Redis), whose behaviour
a test switches while clients are connected:

    pass    forward both ways
    refuse  close every new connection at once, and cut the open ones (a stopped service)
    drop    accept, and never forward a byte either way (a partition, dropped packets):
            clients hang until their own timeouts; the open connections go silent too
    slow    wait `delay` seconds before forwarding each chunk (a congested link)

Cutting matters for pooled connections: a client must find out that the connection it
kept is gone, as it would after a restart. A connection that lost bytes in a `drop` is cut
when the drop ends (its stream has a hole; a client's own timeout would have dropped it);
one that sent nothing meanwhile carries on. Cuts are resets (SO_LINGER 0), as from a host
that forgot the connection.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time

MODES = ("pass", "refuse", "drop", "slow")
CHUNK = 64 * 1024
# How long a pump waits in select before it looks at the mode again.
TICK = 0.05


def _reset(sock: socket.socket | None) -> None:
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Link:
    """One client connection and, unless it was opened during a drop, its upstream one."""

    def __init__(self, relay: Relay, client: socket.socket, upstream: socket.socket | None):
        self.relay = relay
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()
        self.dropped = upstream is None  # lost (or never had) bytes: cut when the drop ends

    def start(self) -> None:
        threading.Thread(target=self._pump, args=(self.client, self.upstream), daemon=True).start()
        if self.upstream is not None:
            threading.Thread(
                target=self._pump, args=(self.upstream, self.client), daemon=True
            ).start()

    def cut(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        _reset(self.client)
        _reset(self.upstream)
        self.relay._forget(self)

    def _pump(self, source: socket.socket, target: socket.socket | None) -> None:
        try:
            while not self.closed.is_set():
                readable, _, _ = select.select([source], [], [], TICK)
                if not readable:
                    continue
                data = source.recv(CHUNK)
                if not data:
                    break
                mode, delay = self.relay.mode, self.relay.delay
                if mode == "drop" or target is None:
                    self.dropped = True
                    continue  # read and thrown away: the sender's kernel never blocks
                if mode == "refuse":
                    break
                if mode == "slow":
                    time.sleep(delay)
                target.sendall(data)
        except (OSError, ValueError):
            pass
        self.cut()


class Relay:
    """Listens on 127.0.0.1:`port` and relays to (`target_host`, `target_port`)."""

    def __init__(self, target_host: str, target_port: int, *, name: str = "relay") -> None:
        self.name = name
        self.target = (target_host, target_port)
        self.mode = "pass"
        self.delay = 0.0
        self.accepted = 0  # connections accepted, in any mode
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=name, daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<Relay {self.name} :{self.port} -> {self.target[1]} {self.mode}>"

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._links)

    def set_mode(self, mode: str, *, delay: float = 0.0) -> None:
        """Switch the mode for every connection, new and open."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        with self._lock:
            previous, self.mode, self.delay = self.mode, mode, delay
            links = list(self._links)
        if mode == "refuse":
            cut = links
        elif previous == "drop" and mode != "drop":
            cut = [link for link in links if link.dropped]
        else:
            cut = []
        for link in cut:
            link.cut()

    def cut_all(self) -> None:
        """Reset every open connection (a restart of the service behind, say)."""
        with self._lock:
            links = list(self._links)
        for link in links:
            link.cut()

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut_all()

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            mode = self.mode
            if mode == "refuse":
                _reset(client)
                continue
            upstream = None
            if mode != "drop":
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                    upstream.settimeout(None)
                except OSError:
                    _reset(client)
                    continue
            link = _Link(self, client, upstream)
            with self._lock:
                self._links.add(link)
            link.start()
