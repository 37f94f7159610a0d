"""The BFF itself as gunicorn processes (several workers, several instances) for tests that
need real processes: they share a database with each other (and with the test process)."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg

from tests.support.servers import Server

POSTGRES_ADMIN_URL = os.environ.get(
    "BFF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("BFF_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def start_bff(
    workdir: Path,
    *,
    port: int,
    database_url: str,
    issuer: str,
    upstreams: dict[str, str],
    lock_backend: str = "bff.locks.database.DatabaseLock",
    workers: int = 1,
    threads: int = 16,
    migrate: bool = False,
    env: dict[str, str] | None = None,
    config: Path | None = None,
) -> Server:
    server = Server(
        name=f"bff-{port}",
        settings_module="config.settings",
        workdir=workdir,
        host="127.0.0.1",
        port=port,
        workers=workers,
        threads=threads,
        ready_path="/healthz",
        config=config,
        env={
            "DATABASE_URL": database_url,
            "DJANGO_HTTPS": "false",
            "DJANGO_DEBUG": "false",
            "OIDC_ISSUER": issuer,
            "OIDC_CLIENT_ID": "bff-test",
            "OIDC_CLIENT_SECRET": "bff-test-secret",
            "BFF_UPSTREAMS": ",".join(f"{k}={v}" for k, v in upstreams.items()),
            "BFF_LOCK_BACKEND": lock_backend,
            "BFF_LOCK_REDIS_URL": REDIS_URL,
            "LOG_LEVEL": "INFO",
            # Test processes share Redis and sign in from one address all the time.
            "ACCOUNTS_RATE_LIMITS": "login=100000/60,callback=100000/60,backchannel=100000/60",
            **(env or {}),
        },
    )
    if migrate:
        server.manage("migrate", "--noinput", "--verbosity", "0")
    return server.start()


def fresh_postgres_database(name: str) -> str:
    """Drop and create database `name`; return its URL. Fails loudly without PostgreSQL."""
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the database the test process uses (its test database)."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or "postgres"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"
