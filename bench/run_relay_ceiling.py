"""The ceiling of relaying a download in Python on this machine, without Django or gunicorn.

A bare relay in this process: each connection gets the upstream's /download with
http.client and passes it on to the client socket as the BFF does (read1 pieces of up to
1 MiB, sendall), either in turn on one thread ("serial", the BFF's way) or with a read-ahead
thread that reads the next pieces while the last is sent ("read-ahead", four pieces queued).
curl downloads --megabytes through each and directly from the upstream, alternating
(--repeat times); reported: the medians of relay / direct. What the BFF's download reaches
in run_streaming is to be read against this: the part of the gap that is not Django's or
gunicorn's. Run from the repository root:

    .venv/bin/python -m bench.run_relay_ceiling [--megabytes 100] [--repeat 8]
"""

from __future__ import annotations

import argparse
import http.client
import queue
import socket
import threading
from collections.abc import Callable
from typing import Any

from bench.machine import machine
from bench.results import median, save, workdir
from bench.run_streaming import MB, transfer
from bench.stacks import Upstream

PIECE = 1024 * 1024
READ_AHEAD = 4


def serial(source: http.client.HTTPResponse, client: socket.socket) -> None:
    while piece := source.read1(PIECE):
        client.sendall(piece)


def read_ahead(source: http.client.HTTPResponse, client: socket.socket) -> None:
    pieces: queue.Queue[bytes] = queue.Queue(READ_AHEAD)

    def pump() -> None:
        try:
            while piece := source.read1(PIECE):
                pieces.put(piece)
        finally:
            pieces.put(b"")

    threading.Thread(target=pump, daemon=True).start()
    while piece := pieces.get():
        client.sendall(piece)


class Relay:
    """A listening socket on 127.0.0.1 that relays each request's download from upstream."""

    def __init__(self, upstream_port: int, move: Callable[..., None]) -> None:
        self.upstream_port = upstream_port
        self.move = move
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with client:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += client.recv(65536)
                target = head.split(b" ", 2)[1].decode()
                upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port)
                upstream.request("GET", target)
                source = upstream.getresponse()
                length = source.getheader("Content-Length")
                client.sendall(
                    f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                self.move(source, client)
                upstream.close()

    def close(self) -> None:
        self.listener.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=8)
    args = parser.parse_args(argv)
    size = args.megabytes * MB
    root = workdir("relay_ceiling")
    result: dict[str, Any] = {"machine": machine(), "bytes": size, "runs": {}}
    upstream = Upstream(root).start()
    relays = {
        "serial": Relay(upstream.port, serial),
        "read-ahead": Relay(upstream.port, read_ahead),
    }
    try:
        runs: dict[str, list[float]] = {name: [] for name in relays}
        for _ in range(args.repeat):
            for name, relay in relays.items():
                direct = transfer("download", f"{upstream.url}/download", {}, size, None)
                relayed = transfer(
                    "download", f"http://127.0.0.1:{relay.port}/download", {}, size, None
                )
                runs[name].append(relayed["mb_per_s"] / direct["mb_per_s"])
        result["runs"] = runs
    finally:
        for relay in relays.values():
            relay.close()
        upstream.stop()
    result["summary"] = {name: median(ratios) for name, ratios in result["runs"].items()}
    save("relay_ceiling", result)
    print(report(result))
    return result


def report(result: dict[str, Any]) -> str:
    lines = [
        f"A bare Python relay, no Django or gunicorn ({result['bytes'] // MB} MB downloads with"
        f" curl, medians of {len(next(iter(result['runs'].values())))} alternations):"
    ]
    for name, ratio in result["summary"].items():
        lines.append(f"  {name:10} {100 * ratio:4.0f} % of direct")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
