"""gunicorn workers of a benchmark server: their pids, the requests each served, connections.

Each worker counts its requests (bench/gunicorn_hooks.py, loaded through GUNICORN_CMD_ARGS)
and writes the count to a file named by its pid; `ss` tells which process holds which
connection.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

from tests.support.servers import Server

# Relative to the repository root, the servers' working directory.
HOOKS = "bench/gunicorn_hooks.py"


def counting_env(count_dir: Path) -> dict[str, str]:
    """Environment for a gunicorn server that counts requests per worker (bench/gunicorn_hooks)."""
    count_dir.mkdir(parents=True, exist_ok=True)
    return {"GUNICORN_CMD_ARGS": f"-c {HOOKS}", "BENCH_COUNT_DIR": str(count_dir)}


def worker_pids(server: Server) -> list[int]:
    """The gunicorn workers of `server` (children of its master)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sorted(int(child) for child in children)


def server_pids(server: Server) -> list[int]:
    """The gunicorn master of `server` and its workers."""
    return [server.process.pid, *worker_pids(server)]


def worker_counts(count_dir: Path) -> dict[int, int]:
    """Requests served so far by each worker that writes to `count_dir`, by pid."""
    counts = {}
    for path in count_dir.iterdir():
        text = path.read_text().strip()
        counts[int(path.name)] = int(text) if text else 0
    return counts


def count_delta(before: dict[int, int], after: dict[int, int]) -> dict[int, int]:
    """Requests served by each worker between two worker_counts()."""
    return {pid: after[pid] - before.get(pid, 0) for pid in sorted(after)}


def connections_per_pid(port: int) -> dict[int, int]:
    """Established connections accepted on `port`, by the process that holds each."""
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
    ).stdout
    counts: Counter[int] = Counter()
    for line in out.splitlines():
        for pid in set(re.findall(r"pid=(\d+)", line)):
            counts[int(pid)] += 1
    return dict(counts)
