"""The BFF as deployed for scale-out, its stores behind relays the tests switch.

PostgreSQL (a fresh database) and a redis-server of our own, each reached through a
tests/support/relay.py Relay; the built-in provider behind the counting proxy, with reuse
detection on and grace zero (a second grant with one refresh token ends the chain, and
with it the session: a double refresh cannot hide); an echo upstream. Two BFF instances,
2 gunicorn workers x 4 threads each, share all of it:

- `a`, started like the other gunicorn tests;
- `b`, started with config/gunicorn.conf.py behind a proxy (DJANGO_BEHIND_PROXY,
  BFF_TRUSTED_PROXIES=127.0.0.1), as deploy/nginx.conf fronts it in test_slow_clients.

The test process reads and moves the database and Redis directly, never through a relay.
Without PostgreSQL or redis-server these fail, they never skip.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import psycopg
import pytest
import redis
import requests
from jwcrypto import jwk

from tests.conftest import CLIENT_ID, CLIENT_SECRET, USER_EMAIL, USER_PASSWORD, sign_in
from tests.support.bff import POSTGRES_ADMIN_URL, fresh_postgres_database, start_bff
from tests.support.echo_upstream import EchoUpstream
from tests.support.idp import register, start_idp
from tests.support.provider_proxy import ProviderProxy
from tests.support.relay import Relay
from tests.support.servers import ROOT, Server, free_port, stop_process

# One per test run: runs side by side do not drop each other's.
DATABASE = f"bff_faults_{os.getpid()}"
# What docs/deploy.md recommends: a connection attempt gives up after 2 s, a connection whose
# packets go unanswered after 10 s (through the relay's kernel, which answers for the
# database, only the first of these shows).
DATABASE_OPTIONS = (
    "connect_timeout=2&keepalives_idle=10&keepalives_interval=5&keepalives_count=3"
    "&tcp_user_timeout=10000"
)
# The Redis lock lives connect + read + 10 s (bff/locks/redis.py): 12 s here.
PROVIDER_TIMEOUT = (0.5, 1.5)
LOCK_SECONDS = PROVIDER_TIMEOUT[0] + PROVIDER_TIMEOUT[1] + 10
# The longest a host may serve a session ended elsewhere whose ended mark was lost.
RECORD_CACHE_SECONDS = 8

SETTINGS = f"""
from tests.settings import *  # noqa: F403

OIDC_HTTP_TIMEOUT = {PROVIDER_TIMEOUT!r}
BFF_RECORD_CACHE_SECONDS = {RECORD_CACHE_SECONDS}
"""

# The echo upstream's line per request would bury a failure's report.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

# Someone whose sessions a back-channel logout ends, apart from everyone else's.
BOB_EMAIL = "bob@example.com"


@dataclass
class Session:
    """A signed-in browser: its cookies and its record's id."""

    cookies: dict[str, str]
    record_id: str
    email: str

    @property
    def browser_key(self) -> str:
        return self.cookies["bff_session"]


@dataclass
class Stack:
    workdir: Path
    database_url: str  # direct, for the test's own reads and writes
    pg: Relay
    redis_a: Relay  # instance a's way to Redis (cache and locks)
    redis_b: Relay  # instance b's: one host can lose Redis while the other keeps it
    store: redis.Redis  # our redis-server, direct: the cache (db 0)
    locks: redis.Redis  # the same server's db 1: the refresh locks
    proxy: ProviderProxy
    idp: Server
    echo: EchoUpstream
    a: Server
    b: Server
    nginx_port: int
    sessions: list[Session] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return f"{self.proxy.url}/o"

    def set_redis(self, mode: str) -> None:
        """Redis as both instances see it."""
        self.redis_a.set_mode(mode)
        self.redis_b.set_mode(mode)

    def sign_in(self, email: str = USER_EMAIL, *, bff: Server | None = None) -> Session:
        """A new browser signed in (on `a` unless told), with its record's id."""
        base = (bff or self.a).url
        browser = requests.Session()
        answer = sign_in(browser, base, email=email)
        assert answer.status_code == 302, answer.text
        cookies = {"bff_session": browser.cookies.get("bff_session")}
        me = requests.get(f"{base}/auth/session", cookies=cookies, timeout=10)
        assert me.status_code == 200, me.text
        (record_id,) = self.query(
            "SELECT id FROM bff_tokensession ORDER BY created_at DESC LIMIT 1"
        )[0]
        session = Session(cookies=cookies, record_id=str(record_id), email=email)
        self.sessions.append(session)
        return session

    # --- the database, read directly --------------------------------------------------

    def query(self, sql: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.database_url, autocommit=True) as db:
            cursor = db.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def ended(self) -> dict[str, str]:
        """Every ended session record: id -> reason."""
        rows = self.query("SELECT id, end_reason FROM bff_tokensession WHERE ended_at IS NOT NULL")
        return {str(pk): reason for pk, reason in rows}

    def ended_among(self, sessions: list[Session]) -> dict[str, str]:
        """Which of these sessions ended, and why."""
        ids = {session.record_id for session in sessions}
        return {pk: reason for pk, reason in self.ended().items() if pk in ids}

    def browser_key(self, record_id: str) -> str:
        """The Django session key of the browser holding the record."""
        return self.query("SELECT browser_key FROM bff_tokensession WHERE id = %s", record_id)[0][0]

    def versions(self) -> dict[str, int]:
        rows = self.query("SELECT id, version FROM bff_tokensession")
        return {str(pk): version for pk, version in rows}

    def rotations(self) -> int:
        """Refresh rotations stored so far, over every record (each starts at version 1)."""
        return sum(version - 1 for version in self.versions().values())

    # --- moving a session's clock -------------------------------------------------------

    def make_due(self, record_id: str, *, remaining: float, lifetime: float = 900.0) -> None:
        """Give the record an access token with `remaining` seconds left, due for refresh,
        in the database and in its cached copy (kept cached: the BFF must not need the
        database to see it)."""
        now = datetime.now(UTC)
        issued = now - timedelta(seconds=lifetime - remaining)
        expires = now + timedelta(seconds=remaining)
        self.query(
            "UPDATE bff_tokensession SET access_issued_at = %s, access_expires_at = %s,"
            " refresh_retry_at = NULL, refresh_failures = 0 WHERE id = %s",
            issued,
            expires,
            record_id,
        )
        key = record_key(self.browser_key(record_id))
        raw = self.store.get(key)
        if raw is None:
            return
        record = pickle.loads(raw)  # noqa: S301 - our own cache
        record.access_issued_at, record.access_expires_at = issued, expires
        record.refresh_retry_at, record.refresh_failures = None, 0
        self.store.set(key, pickle.dumps(record, pickle.HIGHEST_PROTOCOL), keepttl=True)

    def recache(self) -> None:
        """Drop the cached records: the next request caches each again for its full TTL."""
        for session in self.sessions:
            self.store.delete(record_key(session.browser_key))

    # --- the provider's side ------------------------------------------------------------

    def logout_token(self, subject: str) -> str:
        """A back-channel logout token, signed with the provider's own key."""
        pem = (self.idp.workdir / "idp-signing-key.pem").read_bytes()
        kid = jwk.JWK.from_pem(pem).thumbprint()
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": int(time.time()),
            "jti": uuid.uuid4().hex,
            "sub": subject,
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        }
        return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": kid, "typ": "logout+jwt"})


def record_key(browser_key: str) -> str:
    """Django's cache key (no prefix, version 1) of bff/record_cache.py's record entry of the
    browser session `browser_key`."""
    return f":1:bff:record:{browser_key}"


def redis_env(relay: Relay) -> dict[str, str]:
    """The cache and the refresh locks, in two databases of our Redis, through `relay`."""
    return {
        "CACHE_URL": f"redis://127.0.0.1:{relay.port}/0",
        "BFF_LOCK_REDIS_URL": f"redis://127.0.0.1:{relay.port}/1",
    }


def start_redis(workdir: Path) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: apt-get install -y redis-server")
    port = free_port()
    log = workdir / "redis.log"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return process, port
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                stop_process(process)
                raise RuntimeError(f"redis-server did not start:\n{log.read_text()}") from None
            time.sleep(0.05)


@pytest.fixture(scope="package")
def stack(tmp_path_factory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("faults")
    database_url = fresh_postgres_database(DATABASE)
    pg_host, pg_port = POSTGRES_ADMIN_URL.split("@", 1)[1].split("/", 1)[0].split(":")
    pg = Relay(pg_host, int(pg_port), name="postgres")
    redis_process, redis_port = start_redis(workdir)
    redis_a = Relay("127.0.0.1", redis_port, name="redis-a")
    redis_b = Relay("127.0.0.1", redis_port, name="redis-b")
    echo = EchoUpstream().start()
    proxy = ProviderProxy()
    ports = {"a": free_port(), "b": free_port(), "nginx": free_port()}
    bases = [f"http://127.0.0.1:{port}" for port in ports.values()]
    started: list[Server] = []
    try:
        idp = start_idp(
            workdir / "idp",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uris=[f"{base}/auth/callback/oidc" for base in bases],
            post_logout_redirect_uris=[f"{base}/auth/signed-out" for base in bases],
            env={
                "IDP_ISSUER": f"{proxy.url}/o",
                "IDP_REFRESH_GRACE_SECONDS": "0",
                "IDP_REUSE_PROTECTION": "true",
            },
        )
        started.append(idp)
        proxy.target = f"http://127.0.0.1:{idp.port}"
        assert register(requests.Session(), idp.url, "Bob", BOB_EMAIL, USER_PASSWORD).is_redirect

        (workdir / "faults_settings.py").write_text(SETTINGS)
        via_relays = f"postgres://postgres@127.0.0.1:{pg.port}/{DATABASE}?{DATABASE_OPTIONS}"
        common = {
            "database_url": via_relays,
            "issuer": f"{proxy.url}/o",
            "upstreams": {"echo": f"{echo.url}/api"},
            "lock_backend": "bff.locks.redis.RedisLock",
            "workers": 2,
            "threads": 4,
        }
        env = {"DJANGO_SETTINGS_MODULE": "faults_settings", "PYTHONPATH": str(workdir)}
        a = start_bff(
            workdir / "a",
            port=ports["a"],
            migrate=True,
            env={**env, **redis_env(redis_a)},
            **common,
        )
        started.append(a)
        b = start_bff(
            workdir / "b",
            port=ports["b"],
            config=ROOT / "config" / "gunicorn.conf.py",
            env={
                **env,
                **redis_env(redis_b),
                "DJANGO_BEHIND_PROXY": "true",
                "BFF_TRUSTED_PROXIES": "127.0.0.1",
            },
            **common,
        )
        started.append(b)
        built = Stack(
            workdir=workdir,
            database_url=database_url,
            pg=pg,
            redis_a=redis_a,
            redis_b=redis_b,
            store=redis.Redis(port=redis_port, db=0),
            locks=redis.Redis(port=redis_port, db=1),
            proxy=proxy,
            idp=idp,
            echo=echo,
            a=a,
            b=b,
            nginx_port=ports["nginx"],
        )
        yield built
    finally:
        for server in reversed(started):
            server.stop()
        proxy.stop()
        echo.stop()
        redis_a.stop()
        redis_b.stop()
        pg.stop()
        stop_process(redis_process)
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


@pytest.fixture
def clean(stack) -> Iterator[Stack]:
    """Every relay passing, the provider answering, the counters at zero."""
    stack.pg.set_mode("pass")
    stack.set_redis("pass")
    stack.proxy.reset()
    yield stack
    stack.pg.set_mode("pass")
    stack.set_redis("pass")
    stack.proxy.reset()
