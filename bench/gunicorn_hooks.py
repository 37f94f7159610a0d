"""gunicorn config for benchmark servers (GUNICORN_CMD_ARGS="-c bench/gunicorn_hooks.py").

Each worker counts the requests it served and writes the count to BENCH_COUNT_DIR/<pid> every
0.2 s from a thread of its own, so a run can tell how the load generator's keep-alive
connections spread over the workers at almost no cost per request (one next() on a counter).
keepalive as in config/gunicorn.conf.py.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from typing import Any

keepalive = 5

_count_dir = os.environ.get("BENCH_COUNT_DIR")
_counter = itertools.count()


def _write_counts(path: str) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    while True:
        # repr(count(12)) is "count(12)": the next value, i.e. how many were taken.
        served = repr(_counter)[6:-1]
        os.pwrite(fd, served.encode().rjust(20) + b"\n", 0)
        time.sleep(0.2)


def post_fork(server: Any, worker: Any) -> None:
    """Start the worker's thread that writes its request count."""
    if _count_dir:
        path = os.path.join(_count_dir, str(os.getpid()))
        threading.Thread(target=_write_counts, args=(path,), daemon=True).start()


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    """Count one request."""
    next(_counter)
