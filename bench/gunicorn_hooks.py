"""gunicorn config for benchmark servers (GUNICORN_CMD_ARGS="-c bench/gunicorn_hooks.py").

Each worker counts the requests it served and writes the count to BENCH_COUNT_DIR/<pid> every
0.2 s from a thread of its own, so a run can tell how the load generator's keep-alive
connections spread over the workers at almost no cost per request (one next() on a counter).
keepalive as in config/gunicorn.conf.py.

With BENCH_SQL_LOG set, each worker also appends every SQL statement its Django connections
execute to that file, one a line (an execute wrapper on each new connection): how
bench/run_queries counts the statements of a BFF on SQLite, which has no server log.
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
_sql_log = os.environ.get("BENCH_SQL_LOG")
_sql_fd = -1


def _write_counts(path: str) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    while True:
        # repr(count(12)) is "count(12)": the next value, i.e. how many were taken.
        served = repr(_counter)[6:-1]
        os.pwrite(fd, served.encode().rjust(20) + b"\n", 0)
        time.sleep(0.2)


def _log_sql(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    os.write(_sql_fd, (" ".join(sql.split()) + "\n").encode())  # O_APPEND: whole lines
    return execute(sql, params, many, context)


def _watch_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    connection.execute_wrappers.append(_log_sql)


def post_fork(server: Any, worker: Any) -> None:
    """Start the worker's thread that writes its request count; log SQL when asked."""
    global _sql_fd
    if _count_dir:
        path = os.path.join(_count_dir, str(os.getpid()))
        threading.Thread(target=_write_counts, args=(path,), daemon=True).start()
    if _sql_log:
        from django.db.backends.signals import connection_created

        _sql_fd = os.open(_sql_log, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
        connection_created.connect(_watch_connection, weak=False)


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    """Count one request."""
    next(_counter)
