"""Where a BFF worker's CPU goes on the /api path: py-spy on one worker under wrk load, per
storage configuration, reported as the top functions by inclusive and by own share of the
samples (threads waiting on a socket, PostgreSQL or a lock are not sampled: py-spy's default
leaves idle threads out). Writes the raw stacks (flamegraph.pl / speedscope input) under
bench/results/profile-<configuration>/. Run from the repository root:

    .venv/bin/python -m bench.run_profile [--config postgres|redis|both] [--seconds 10]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.results import save, workdir
from bench.stacks import REDIS_CACHE_ENV, UPSTREAM_NAME, Upstream, bff_stack
from bench.workers import worker_pids
from bench.wrk import wrk

CONFIGS = {"postgres": {}, "redis": REDIS_CACHE_ENV}
# Frames that are waiting, not working, even when py-spy samples them.
WAITING = ("readinto (socket.py", "wait (psycopg/", "recv (", "select (selectors.py", "acquire")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/python -m pip install py-spy")
    return found


def frame_name(frame: str) -> str:
    """ "function (path/file.py:12)" -> "function (path/file.py)"."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def summarize(raw: Path, top: int = 20) -> dict[str, Any]:
    stacks: list[tuple[list[str], int]] = []
    for line in raw.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append(([frame_name(f) for f in frames.split(";")], int(count)))
    working = [(f, n) for f, n in stacks if not any(w in f[-1] for w in WAITING)]
    total = sum(n for _, n in working) or 1
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    for frames, n in working:
        for name in set(frames):
            inclusive[name] += n
        own[frames[-1]] += n
    return {
        "samples": total,
        "waiting_samples": sum(n for _, n in stacks) - total,
        "inclusive": [(name, round(100 * n / total, 1)) for name, n in inclusive.most_common(60)],
        "own": [(name, round(100 * n / total, 1)) for name, n in own.most_common(top)],
    }


def profile(config: str, seconds: float) -> dict[str, Any]:
    root = workdir(f"profile-{config}")
    upstream = Upstream(root).start()
    try:
        with bff_stack(f"profile_{config}", upstream.url, root=root, workers=2) as stack:
            stack.start_bff(env=CONFIGS[config])
            url = f"{stack.url}/api/{UPSTREAM_NAME}/json"
            headers = stack.api_headers()
            wrk(url, connections=16, duration=2, headers=headers)  # warm
            load = threading.Thread(
                target=wrk,
                args=(url,),
                kwargs={"connections": 16, "duration": seconds + 3, "headers": headers},
            )
            load.start()
            time.sleep(1)
            pid = worker_pids(stack.bff)[0]
            raw = root / "worker.pyspy.txt"
            subprocess.run(
                [py_spy(), "record", "--pid", str(pid), "--duration", str(int(seconds))]
                + ["--rate", "500", "--format", "raw", "--output", str(raw), "--nonblocking"],
                check=True,
                capture_output=True,
            )
            load.join()
            result = summarize(raw)
            result["raw"] = str(raw)
            return result
    finally:
        upstream.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="both", choices=[*CONFIGS, "both"])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args(argv)
    results = {}
    for config in CONFIGS if args.config == "both" else [args.config]:
        result = results[config] = profile(config, args.seconds)
        waiting = result["waiting_samples"]
        print(f"\n{config}: {result['samples']} working samples (+{waiting} waiting)")
        print("  inclusive %  function")
        for name, share in result["inclusive"]:
            print(f"  {share:10.1f}  {name}")
        print("  own %        function")
        for name, share in result["own"]:
            print(f"  {share:10.1f}  {name}")
    save("profile", results)


if __name__ == "__main__":
    main()
