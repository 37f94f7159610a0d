"""Live data: SSE first-event latency through the BFF under gunicorn (signed in, PostgreSQL),
and how many WebSockets one ASGI process holds (memory, echo round trip, the watcher's CPU).

    .venv/bin/python -m bench.run_live [--sockets 100,500,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

import requests
from websockets.asyncio.client import connect

from bench import stacks
from bench.results import workdir
from bench.run_asgi import REDIS_URL, start_uvicorn
from tests.support.asgi import ThreadedUvicorn
from tests.support.live_upstream import LiveUpstream
from tests.support.servers import free_port, stop_process


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sse_latency(base: str, headers: dict[str, str], count: int = 100) -> list[float]:
    response = requests.get(
        f"{base}/api/live/events/timed?n={count}&gap=0.01",
        headers={**headers, "Accept": "text/event-stream"},
        stream=True,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    latencies, buffer = [], b""
    while chunk := response.raw.read1(65536):
        received = time.monotonic()
        buffer += chunk
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            latencies.append(received - float(event.decode().split("data:", 1)[1]))
    return latencies


async def hold_sockets(ws_base: str, headers: dict[str, str], origin: str, n: int, pid: int):
    sockets = []
    started = time.monotonic()
    for _ in range(n):
        sockets.append(
            await connect(
                f"{ws_base}/api/live/ws/echo",
                additional_headers={"Cookie": headers["Cookie"]},
                origin=origin,
                open_timeout=30,
            )
        )
    opened = time.monotonic() - started
    cpu_before = cpu_seconds(pid)
    await asyncio.sleep(10)
    idle_cpu = (cpu_seconds(pid) - cpu_before) / 10
    rtts = []
    for socket in sockets[:: max(1, n // 50)]:
        sent = time.monotonic()
        await socket.send("ping")
        await socket.recv()
        rtts.append(time.monotonic() - sent)
    memory = rss_mb(pid)
    for socket in sockets:
        await socket.close()
    return opened, idle_cpu, statistics.median(rtts), memory


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", default="100,500,1000")
    args = parser.parse_args()
    stacks.REDIS_CACHE_URL = REDIS_URL
    stacks.REDIS_CACHE_ENV["CACHE_URL"] = REDIS_URL
    root = workdir("live")
    upstream = stacks.Upstream(root).start()
    live = ThreadedUvicorn(LiveUpstream()).start()
    try:
        with stacks.bff_stack("h14live", upstream.url, root=root, workers=1) as stack:
            counts = [int(n) for n in args.sockets.split(",")]
            env = {
                "BFF_UPSTREAMS": f"{stacks.UPSTREAM_NAME}={upstream.url},live={live.url}",
                "BFF_LIVE_MAX_STREAMS_PER_SESSION": str(max(counts) + 10),
                "DJANGO_CSRF_TRUSTED_ORIGINS": "",
            }
            stack.start_bff(env=env)
            headers = stack.api_headers()
            latencies = sse_latency(stack.url, headers)
            print(
                f"SSE through gunicorn, signed in, PostgreSQL: first {latencies[0] * 1000:.2f} ms,"
                f" median {statistics.median(latencies) * 1000:.2f} ms,"
                f" p99 {sorted(latencies)[int(len(latencies) * 0.99) - 1] * 1000:.2f} ms,"
                f" max {max(latencies) * 1000:.2f} ms over {len(latencies)} events"
            )
            port = free_port()
            asgi_env = {**stack.bff.env, **env, "DJANGO_CSRF_TRUSTED_ORIGINS": stack.url}
            uvicorn = start_uvicorn(asgi_env, port, root / "uvicorn-live.log")
            try:
                base_rss = rss_mb(uvicorn.pid)
                print(f"ASGI process at rest: {base_rss:.0f} MB")
                print("| open WebSockets | open s | RSS MB | MB each | idle CPU | echo p50 ms |")
                print("|---|---|---|---|---|---|")
                for n in counts:
                    opened, idle_cpu, rtt, memory = asyncio.run(
                        hold_sockets(f"ws://127.0.0.1:{port}", headers, stack.url, n, uvicorn.pid)
                    )
                    print(
                        f"| {n} | {opened:.1f} | {memory:.0f} | {(memory - base_rss) / n:.3f} |"
                        f" {idle_cpu * 100:.1f}% | {rtt * 1000:.2f} |"
                    )
                    time.sleep(2)
            finally:
                stop_process(uvicorn)
    finally:
        live.stop()
        upstream.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
