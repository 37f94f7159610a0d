"""Database queries per proxied /api request, counted where they happen: in PostgreSQL.

The BFF runs under gunicorn (1 worker) on its own PostgreSQL database with
`log_statement = 'all'` set on that database only, so every statement of its connections,
including the connection health check Django runs outside its own query log, lands in the
server log. A signed-in session then makes proxied calls one at a time; the statements
between two calls are that call's; Redis commands are seen with MONITOR. Two
configurations: PostgreSQL alone, and PostgreSQL + Redis (sessions and records cached);
and a BFF on SQLite, whose statements its worker logs itself (bench/gunicorn_hooks.py,
BENCH_SQL_LOG), for the fresh-token case.
Three cases: a fresh token (the steady state), a fresh
token when last_seen_at is a minute old (the once-a-minute write), a token inside the
refresh buffer (the refresh). Then the same call in-process with Django's test Client,
with CaptureQueriesContext (what the ORM sends) and cProfile (where the CPU goes).

This process ages the record and makes the in-process calls on Django as the first BFF
started set it up (bench.django_setup: bench.bff_settings, the stack's database, the Redis
cache settings), once, before its first ORM use. Run from the repository root:

    .venv/bin/python -m bench.run_queries [--requests 5]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import redis
import requests

from bench import django_setup
from bench.machine import machine
from bench.results import save, workdir
from bench.sessions import age_last_seen, make_due
from bench.stacks import (
    REDIS_CACHE_ENV,
    REDIS_CACHE_URL,
    UPSTREAM_NAME,
    BFFStack,
    Upstream,
    bff_stack,
)
from tests.support.bff import POSTGRES_ADMIN_URL

POSTGRES_LOG = Path("/var/log/postgresql/postgresql-15-main.log")
DATABASE = "bench_queries"
LOG_LINE = re.compile(r"\[(\d+)\] \S*@(\S+) LOG:  (?:statement|execute [^:]*): (.*)")


def database_name(database_url: str) -> str:
    return database_url.rsplit("/", 1)[1]


def statements_since(offset: int, database: str) -> list[str]:
    """Statements PostgreSQL logged for `database` after byte `offset` of its log."""
    time.sleep(0.3)  # the log is written asynchronously
    with POSTGRES_LOG.open("rb") as log:
        log.seek(offset)
        text = log.read().decode("utf-8", "replace")
    out = []
    for line in text.splitlines():
        match = LOG_LINE.search(line)
        if match and match.group(2) == database:
            out.append(match.group(3))
        elif line.startswith("\t") and out:
            out[-1] += " " + line.strip()
    return out


class RedisCommands:
    """The commands sent to the benchmarks' Redis cache database, seen with MONITOR."""

    def __init__(self) -> None:
        self.db = int(REDIS_CACHE_URL.rsplit("/", 1)[1])
        self.seen: list[str] = []
        self._client = redis.Redis.from_url(REDIS_CACHE_URL, socket_timeout=None)
        threading.Thread(target=self._run, daemon=True).start()
        time.sleep(0.2)

    def _run(self) -> None:
        while True:
            try:
                with self._client.monitor() as monitor:
                    for command in monitor.listen():
                        if command.get("db") == self.db:
                            self.seen.append(command["command"])
            except redis.RedisError:
                time.sleep(0.05)


def one_call(stack: BFFStack, url: str, monitor: RedisCommands) -> dict[str, list[str]]:
    time.sleep(0.2)  # MONITOR shows commands a moment late: leave the ones before out
    offset, seen = POSTGRES_LOG.stat().st_size, len(monitor.seen)
    response = requests.get(url, headers=stack.api_headers(), timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
    statements = statements_since(offset, database_name(stack.database_url))
    return {"postgres": statements, "redis": monitor.seen[seen:]}


def shorten(sql: str, width: int = 160) -> str:
    sql = re.sub(r"\s+", " ", sql)
    # Column lists say little; keep the shape of the statement.
    sql = re.sub(r"SELECT (.{60}).*? FROM", r"SELECT \1... FROM", sql)
    return sql if len(sql) <= width else sql[: width - 3] + "..."


def sqlite_side(stack: BFFStack, sql_log: Path, requests_count: int) -> dict[str, Any]:
    """SQL statements per fresh-token call of a BFF on SQLite, from its worker's SQL log."""
    url = f"{stack.url}/api/{UPSTREAM_NAME}/json"

    def call() -> list[str]:
        offset = sql_log.stat().st_size if sql_log.exists() else 0
        response = requests.get(url, headers=stack.api_headers(), timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
        with sql_log.open("rb") as log:
            log.seek(offset)
            return log.read().decode().splitlines()

    call()  # warm-up
    steady = [call() for _ in range(requests_count)]
    return {
        "fresh_token_counts": [len(c) for c in steady],
        "fresh_token_redis_counts": [0 for _ in steady],
        "fresh_token": {"postgres": [], "sqlite": steady[-1], "redis": []},
    }


def server_side(stack: BFFStack, requests_count: int, monitor: RedisCommands) -> dict[str, Any]:
    url = f"{stack.url}/api/{UPSTREAM_NAME}/json"
    one_call(stack, url, monitor)  # warm-up: connections open, caches filled
    steady = [one_call(stack, url, monitor) for _ in range(requests_count)]
    age_last_seen(stack.record_id, seconds=120)
    touched = one_call(stack, url, monitor)
    make_due(stack.record_id)
    grants_before = stack.proxy.refresh_grants
    refreshed = one_call(stack, url, monitor)
    after_refresh = one_call(stack, url, monitor)
    return {
        "env": {k: v for k, v in stack.env.items() if not k.startswith(("GUNICORN", "BENCH"))},
        "fresh_token_counts": [len(c["postgres"]) for c in steady],
        "fresh_token_redis_counts": [len(c["redis"]) for c in steady],
        "fresh_token": steady[-1],
        "last_seen_write": touched,
        "refresh": refreshed,
        "refresh_grants": stack.proxy.refresh_grants - grants_before,
        "after_refresh": after_refresh,
    }


def in_process(stack: BFFStack, requests_count: int, profile_requests: int) -> dict[str, Any]:
    """The same call through Django's test Client in this process (no gunicorn, Redis settings)."""
    django_setup.require()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    client.cookies["bff_session"] = stack.cookie
    path = f"/api/{UPSTREAM_NAME}/json"
    headers = {"HTTP_X_CSRF": "1"}
    assert client.get(path, **headers).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        for _ in range(requests_count):
            response = client.get(path, **headers)
            read_body(response)
    orm = [q["sql"] for q in captured.captured_queries]
    # CPU per request in Django + the view (no gunicorn, no health check: the test Client
    # does not send request_started to close_old_connections).
    profiler = cProfile.Profile(time.process_time)
    started_cpu, started = time.process_time(), time.perf_counter()
    profiler.enable()
    for _ in range(profile_requests):
        response = client.get(path, **headers)
        read_body(response)
    profiler.disable()
    cpu_ms = 1000 * (time.process_time() - started_cpu) / profile_requests
    wall_ms = 1000 * (time.perf_counter() - started) / profile_requests
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = sum(v[3] for v in stats.stats.values() if v[3]) or 1
    cumulative = sorted(
        (
            (f"{func[2]} ({Path(func[0]).parent.name}/{Path(func[0]).name}:{func[1]})", v[3])
            for func, v in stats.stats.items()
        ),
        key=lambda item: item[1],
        reverse=True,
    )
    request_total = next((t for name, t in cumulative if name.startswith("get (test/client")), 0)
    top = [
        {"function": name, "cpu_ms_per_request": round(1000 * t / profile_requests, 3)}
        for name, t in cumulative[:60]
    ]
    costs = component_costs(stack, stack.record_id, profile_requests)
    connection.close()
    return {
        "component_costs": costs,
        "orm_queries_per_request": len(orm) / requests_count,
        "orm_queries": orm[: len(orm) // requests_count],
        "profile_requests": profile_requests,
        "cpu_ms_per_request_under_cprofile": round(cpu_ms, 3),
        "wall_ms_per_request_under_cprofile": round(wall_ms, 3),
        "cprofile_total_s": round(total, 3),
        "client_get_cumulative_s": round(request_total, 3),
        "cumulative_top": top,
    }


def read_body(response: Any) -> bytes:
    """The whole body of a test Client response, streamed or not (small bodies come whole)."""
    return b"".join(response.streaming_content) if response.streaming else response.content


def timed(function: Any, repeat: int) -> dict[str, float]:
    """CPU and wall milliseconds per call of `function` (after one warm-up call)."""
    function()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(repeat):
        function()
    return {
        "cpu_ms": round(1000 * (time.process_time() - cpu) / repeat, 4),
        "wall_ms": round(1000 * (time.perf_counter() - wall) / repeat, 4),
    }


def component_costs(stack: BFFStack, record_id: str, repeat: int) -> dict[str, dict[str, float]]:
    """Each piece of the hot path alone, in this process, one thread (no load, no profiler)."""
    import http.client
    from urllib.parse import urlsplit

    import urllib3
    from django.db import connection
    from django.test import Client
    from django.utils import timezone
    from requests.adapters import HTTPAdapter

    from bff import crypto
    from bff.models import TokenSession
    from bff.session_store import JoinedQuery, SessionStore
    from bff.upstreams import get_upstream

    client = Client(HTTP_HOST="127.0.0.1")
    client.cookies["bff_session"] = stack.cookie
    path = f"/api/{UPSTREAM_NAME}/json"

    def whole_request() -> None:
        response = client.get(path, HTTP_X_CSRF="1")
        read_body(response)

    def orm_record() -> TokenSession:
        return TokenSession.objects.select_related("user").get(pk=record_id)

    record = orm_record()
    upstream = get_upstream(UPSTREAM_NAME)
    url = f"{upstream.url}/json"
    # A pooled keep-alive requests session, as a proxy built on requests would hold one.
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=upstream.pool_size, max_retries=0)
    session.mount("http://", adapter)
    pool = urllib3.HTTPConnectionPool("127.0.0.1", urlsplit(url).port, maxsize=4)
    plain = http.client.HTTPConnection("127.0.0.1", urlsplit(url).port)

    def with_http_client() -> None:
        plain.request("GET", "/json", headers={"Authorization": "Bearer x"})
        plain.getresponse().read()

    session_key = stack.cookie
    joined = JoinedQuery("default")
    costs = {
        "whole request, test Client (no gunicorn; Redis cache settings)": timed(
            whole_request, repeat
        ),
        "session + record + user from the database (bff.session_store's joined query)": timed(
            lambda: joined.get(session_key, timezone.now()), repeat
        ),
        "session + record + ended mark from Redis (bff.session_store, one MGET)": timed(
            lambda: SessionStore(session_key).load(), repeat
        ),
        "record + user: ORM get + select_related (load_session's fallback)": timed(
            orm_record, repeat
        ),
        "connection health check (is_usable: SELECT 1)": timed(connection.is_usable, repeat),
        "record.tokens (decrypt 3 tokens)": timed(lambda: record.tokens, repeat),
        "decrypt the access token only": timed(
            lambda: crypto.decrypt(record.access_token_encrypted), repeat
        ),
        "upstream GET, requests (pooled session)": timed(
            lambda: session.get(url, timeout=upstream.timeout).content, repeat
        ),
        "upstream GET, urllib3 pool": timed(
            lambda: pool.request("GET", "/json", headers={"Authorization": "Bearer x"}).data,
            repeat,
        ),
        "upstream GET, http.client (one connection)": timed(with_http_client, repeat),
    }
    session.close()
    pool.close()
    plain.close()
    return costs


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--profile-requests", type=int, default=300)
    args = parser.parse_args(argv)
    if not POSTGRES_LOG.exists():
        raise SystemExit(f"{POSTGRES_LOG} not found: the server-side count needs its log")
    root = workdir("queries")
    result: dict[str, Any] = {"machine": machine()}
    upstream = Upstream(root).start()
    try:
        with bff_stack("queries", upstream.url, root=root, workers=1, spare_ports=2) as stack:
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                name = database_name(stack.database_url)
                admin.execute(f"ALTER DATABASE \"{name}\" SET log_statement = 'all'")
            monitor = RedisCommands()
            try:
                stack.start_bff()
                result["server"] = {"postgres": server_side(stack, args.requests, monitor)}
                stack.stop_bff()
                other = stack.another()
                other.start_bff(env=REDIS_CACHE_ENV, tag="-redis")
                result["server"]["postgres_redis"] = server_side(other, args.requests, monitor)
            finally:
                with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                    admin.execute(f'ALTER DATABASE "{name}" RESET log_statement')
            sqlite = stack.another(1)
            sqlite.database_url = f"sqlite:///{root / 'bff.sqlite3'}"
            sqlite.migrated = False
            sql_log = root / "sqlite-statements.log"
            sqlite.start_bff(env={"BENCH_SQL_LOG": str(sql_log)}, tag="-sqlite", driver=False)
            result["server_sqlite"] = sqlite_side(sqlite, sql_log, args.requests)
            sqlite.stop_bff()
            # In-process with the scale-out settings (Redis cache), the session of `other`.
            result["in_process"] = in_process(other, args.requests, args.profile_requests)
    finally:
        upstream.stop()
    result["workdir"] = str(root)
    save("queries", result)
    print(report(result))
    return result


def listing(calls: dict[str, list[str]]) -> list[str]:
    lines = [f"      {i}. {shorten(sql)}" for i, sql in enumerate(calls["postgres"], 1)]
    if calls["redis"]:
        lines.append("      Redis: " + "; ".join(shorten(c, 70) for c in calls["redis"]))
    return lines


def report(result: dict[str, Any]) -> str:
    lines = ["Queries per proxied request (PostgreSQL's statement log; Redis MONITOR):"]
    labels = {"postgres": "PostgreSQL alone", "postgres_redis": "PostgreSQL + Redis cache"}
    for config, server in result["server"].items():
        lines.append(
            f"  {labels[config]}: fresh token: {server['fresh_token_counts']} SQL statements,"
            f" {server['fresh_token_redis_counts']} Redis commands per request"
        )
        lines += listing(server["fresh_token"])
        lines.append(
            f"    fresh token, last_seen_at a minute old in the database:"
            f" {len(server['last_seen_write']['postgres'])} SQL"
        )
        lines += listing(server["last_seen_write"])
        lines.append(
            f"    token inside the refresh buffer: {len(server['refresh']['postgres'])} SQL,"
            f" {server['refresh_grants']} refresh grant(s); the call after it:"
            f" {len(server['after_refresh']['postgres'])} SQL"
        )
        lines += listing(server["refresh"])
    if sqlite := result.get("server_sqlite"):
        lines.append(
            f"  SQLite (its worker's own log): fresh token: {sqlite['fresh_token_counts']} SQL"
            " statements per request"
        )
        lines += [
            f"      {i}. {shorten(sql)}" for i, sql in enumerate(sqlite["fresh_token"]["sqlite"], 1)
        ]
    local = result["in_process"]
    lines.append(
        f"In-process (test Client, Redis cache settings): {local['orm_queries_per_request']:g} ORM"
        f" queries per request; CPU {local['cpu_ms_per_request_under_cprofile']:.2f} ms/request"
        " under cProfile"
    )
    lines.append("  each piece alone, in-process, one thread (ms per call):")
    lines.append(f"    {'cpu':>7} {'wall':>7}")
    for name, cost in local["component_costs"].items():
        lines.append(f"    {cost['cpu_ms']:7.3f} {cost['wall_ms']:7.3f}  {name}")
    lines.append("  cumulative CPU ms per request (cProfile, process time):")
    for row in local["cumulative_top"][:30]:
        lines.append(f"    {row['cpu_ms_per_request']:7.3f}  {row['function']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
