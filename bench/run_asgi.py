"""WSGI or ASGI for the BFF: the same proxied /api GET under gunicorn gthread (config.wsgi) and
under uvicorn (config.asgi), same settings, database, session and upstream.

Decides whether the whole BFF moves to ASGI or an ASGI process serves only the WebSocket
paths beside the WSGI one (docs/benchmarks.md, "WSGI or ASGI"). Run from the repository root:

    .venv/bin/python -m bench.run_asgi [--duration 6] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from bench import stacks
from bench.results import median, workdir
from bench.wrk import wrk
from tests.support.servers import ROOT, free_port, stop_process

# This bench's own Redis database (others use 13).
REDIS_URL = os.environ.get("BENCH_ASGI_REDIS_URL", "redis://127.0.0.1:6379/10")


def start_uvicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """The BFF's ASGI application under uvicorn, one process, the BFF's environment."""
    out = open(log, "ab")  # noqa: SIM115 - the process owns it
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port)]
        + ["--no-access-log", "--log-level", "warning", "--lifespan", "off"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except requests.RequestException:
            time.sleep(0.1)
    stop_process(process)
    raise RuntimeError(log.read_text()[-3000:])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    stacks.REDIS_CACHE_URL = REDIS_URL
    stacks.REDIS_CACHE_ENV["CACHE_URL"] = REDIS_URL
    root = workdir("asgi")
    upstream = stacks.Upstream(root).start()
    results: dict[str, list[dict]] = {}
    try:
        with stacks.bff_stack("h14asgi", upstream.url, root=root, workers=1) as stack:
            stack.start_bff()
            headers = stack.api_headers()
            port = free_port()
            uvicorn = start_uvicorn(stack.bff.env, port, root / "uvicorn.log")
            targets = {
                "wsgi (gunicorn gthread, 1 worker)": stack.url,
                "asgi (uvicorn, 1 process)": f"http://127.0.0.1:{port}",
            }
            try:
                for base in targets.values():
                    url = f"{base}/api/{stacks.UPSTREAM_NAME}/json"
                    assert requests.get(url, headers=headers, timeout=5).status_code == 200
                    wrk(url, connections=8, duration=1, headers=headers)
                for _ in range(args.rounds):
                    for label, base in targets.items():
                        for concurrency in (1, 32):
                            report = wrk(
                                f"{base}/api/{stacks.UPSTREAM_NAME}/json",
                                connections=concurrency,
                                duration=args.duration,
                                headers=headers,
                            )
                            results.setdefault(f"{label} c={concurrency}", []).append(report)
            finally:
                stop_process(uvicorn)
    finally:
        upstream.stop()
    print("| server | rps | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|")
    for key, reports in results.items():
        rps = median([r["rps"] for r in reports])
        p50 = median([r["p50_us"] / 1000 for r in reports])
        p99 = median([r["p99_us"] / 1000 for r in reports])
        errors = sum(r["errors"] for r in reports)
        print(f"| {key} | {rps:.0f} | {p50:.2f} | {p99:.2f} | {errors} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
