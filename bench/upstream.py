"""A minimal fast upstream for the benchmarks: a raw asyncio HTTP/1.1 server with keep-alive.

    GET  /json               a small JSON body (what the overhead runs fetch)
    GET  /download?bytes=N   N bytes (default 200 MiB) streamed with a Content-Length
    POST /upload (or PUT)    reads the body as it arrives, counts it, answers {"received": N}
    GET  /healthz            ok

It ignores Authorization: the point is that the upstream's own cost is as small as it can be
in Python, so what the BFF adds is what a run measures. Run from the repository root:

    .venv/bin/python -m bench.upstream --port P
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from urllib.parse import parse_qs

SMALL_BODY = json.dumps({"ok": True, "items": [{"id": i, "name": f"item {i}"} for i in range(3)]})
SMALL = SMALL_BODY.encode()
DEFAULT_DOWNLOAD = 200 * 1024 * 1024
BLOCK = b"x" * (256 * 1024)
MAX_HEAD = 64 * 1024


def response_head(status: str, length: int, content_type: str, keep_alive: bool) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n"
        f"X-Upstream-Pid: {os.getpid()}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    ).encode("latin-1")


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> int:
    """Read (and drop) the request body; return its size."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        received = 0
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return received
            remaining = size
            while remaining:
                chunk = await reader.read(min(remaining, 1024 * 1024))
                if not chunk:
                    raise asyncio.IncompleteReadError(b"", remaining)
                remaining -= len(chunk)
            received += size
            await reader.readexactly(2)
    remaining = length = int(headers.get("content-length") or 0)
    while remaining:
        chunk = await reader.read(min(remaining, 1024 * 1024))
        if not chunk:
            raise asyncio.IncompleteReadError(b"", remaining)
        remaining -= len(chunk)
    return length


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            if headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            received = await read_body(reader, headers)
            keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            path, _, query = target.partition("?")
            if path.endswith("/download") and method == "GET":
                size = int(parse_qs(query).get("bytes", [DEFAULT_DOWNLOAD])[0])
                writer.write(response_head("200 OK", size, "application/octet-stream", keep_alive))
                view = memoryview(BLOCK)
                while size > 0:
                    piece = view[: min(size, len(BLOCK))]
                    writer.write(piece)
                    size -= len(piece)
                    await writer.drain()
            elif path.endswith("/upload") and method in ("POST", "PUT"):
                body = json.dumps({"received": received}).encode()
                writer.write(response_head("200 OK", len(body), "application/json", keep_alive))
                writer.write(body)
            elif path.endswith("/healthz"):
                writer.write(response_head("200 OK", 2, "text/plain", keep_alive) + b"ok")
            else:
                writer.write(response_head("200 OK", len(SMALL), "application/json", keep_alive))
                writer.write(SMALL)
            await writer.drain()
            if not keep_alive:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def serve(host: str, port: int) -> None:
    server = await asyncio.start_server(handle, host, port, limit=MAX_HEAD, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
