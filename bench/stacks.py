"""The servers a benchmark runs against: the upstream, the bare-Django floor, the BFF stack.

The servers are real processes on 127.0.0.1, started with the helpers the tests use
(tests/support): the BFF and the floor under gunicorn gthread, the built-in provider behind
the counting ProviderProxy, and the asyncio upstream (bench/upstream.py). Starting the first
BFF of a stack also sets Django up in the driver process for the stack's database
(bench.django_setup), so the driver can read and age the session's record (bench.sessions).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests

from bench import django_setup
from bench.sessions import USER_EMAIL, USER_PASSWORD, newest_live_record_id, sign_in
from bench.workers import counting_env
from tests.support.bff import fresh_postgres_database, start_bff
from tests.support.idp import start_idp
from tests.support.provider_proxy import ProviderProxy
from tests.support.servers import ROOT, Server, free_port, stop_process

CLIENT_ID = "bff-test"
CLIENT_SECRET = "bff-test-secret"
UPSTREAM_NAME = "bench"
# The Redis database the benchmarks' BFFs use as their cache (flushed by each run), and the
# prefix of their PostgreSQL databases (<prefix>_<name>, dropped and made by each run); both
# can be moved off the defaults so that two people can run the benchmarks on one machine.
REDIS_CACHE_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
DATABASE_PREFIX = os.environ.get("BENCH_DATABASE_PREFIX", "bench")
# The scale-out configuration: a shared cache, so sessions are cached_db and records cached.
REDIS_CACHE_ENV = {
    "CACHE_URL": REDIS_CACHE_URL,
    "DJANGO_SESSION_ENGINE": "bff.session_store",
}
DATABASE_LOCK = "bff.locks.database.DatabaseLock"
REDIS_LOCK = "bff.locks.redis.RedisLock"


class Upstream:
    """bench/upstream.py in a child process."""

    def __init__(self, logdir: Path) -> None:
        self.port = free_port()
        self.log_path = logdir / "upstream.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Upstream:
        """Start it and wait until it answers /healthz."""
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.upstream", "--port", str(self.port)],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.url}/healthz", timeout=1).raise_for_status()
                return self
            except requests.RequestException:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the bench upstream did not start")

    def stop(self) -> None:
        """Stop the process and close its log."""
        stop_process(self.process, getattr(self, "_log", None))


def floor_server(root: Path, upstream_url: str, *, workers: int, threads: int) -> Server:
    """The bare-Django floor (bench/bare_django) under gunicorn."""
    count_dir = root / "counts-floor"
    server = Server(
        name="floor",
        settings_module="bench.bare_django.settings",
        workdir=root,
        workers=workers,
        threads=threads,
        ready_path="/healthz",
        env={"BENCH_UPSTREAM_URL": upstream_url, **counting_env(count_dir)},
    )
    server.count_dir = count_dir
    return server.start()


@dataclass
class BFFStack:
    """A BFF on PostgreSQL, the real provider behind a counting proxy, one signed-in session."""

    root: Path
    proxy: ProviderProxy
    idp: Server
    database_url: str
    upstream_url: str
    port: int
    workers: int
    threads: int
    bff: Server | None = None
    cookie: str = ""
    record_id: str = ""
    count_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Ports registered at the provider for more BFF instances on the same database.
    spare_ports: list[int] = field(default_factory=list)
    migrated: bool = False
    others: list[BFFStack] = field(default_factory=list)

    def another(self, index: int = 0) -> BFFStack:
        """A second BFF instance on the same provider and database (start it with start_bff)."""
        other = dataclasses.replace(
            self,
            port=self.spare_ports[index],
            bff=None,
            cookie="",
            record_id="",
            count_dir=None,
            env={},
            spare_ports=[],
            migrated=True,
            others=[],
        )
        self.others.append(other)
        return other

    def stop_all(self) -> None:
        """Stop this BFF and those made with another()."""
        for other in self.others:
            other.stop_bff()
        self.stop_bff()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.proxy.url}/o"

    def start_bff(
        self,
        *,
        lock_backend: str = DATABASE_LOCK,
        env: dict[str, str] | None = None,
        tag: str = "",
        driver: bool = True,
    ) -> Server:
        """(Re)start the BFF with this configuration and sign in a fresh session. With
        `driver` false the driver's Django is left alone (a BFF on another database than the
        stack's: record_id stays empty)."""
        self.stop_bff()
        self.count_dir = self.root / f"counts-bff-{self.port}{tag}"
        if self.count_dir.exists():
            shutil.rmtree(self.count_dir)
        self.env = {
            "DJANGO_SETTINGS_MODULE": django_setup.SETTINGS_MODULE,
            **counting_env(self.count_dir),
            **(env or {}),
        }
        migrate = not self.migrated
        self.bff = start_bff(
            self.root / f"bff-{self.port}",
            port=self.port,
            database_url=self.database_url,
            issuer=self.issuer,
            upstreams={UPSTREAM_NAME: self.upstream_url},
            lock_backend=lock_backend,
            workers=self.workers,
            migrate=migrate,
            env=self.env,
        )
        self.migrated = True
        if driver:
            # Once per process (later calls only check the database): see bench.django_setup.
            django_setup.setup(self.driver_env())
        self.cookie = sign_in(self.url)
        if driver:
            self.record_id = newest_live_record_id()
        return self.bff

    def driver_env(self) -> dict[str, str]:
        """The environment the driver's Django gets: this BFF's, on the shared Redis cache."""
        return {**self.bff.env, **REDIS_CACHE_ENV, "LOG_LEVEL": "WARNING"}

    def stop_bff(self) -> None:
        """Stop the BFF if it runs."""
        if self.bff is not None:
            self.bff.stop()
            self.bff = None

    def api_headers(self) -> dict[str, str]:
        """Headers of an /api call from the signed-in browser."""
        return {"Cookie": f"bff_session={self.cookie}", "X-CSRF": "1", "Origin": self.url}


@contextmanager
def bff_stack(
    name: str,
    upstream_url: str,
    *,
    root: Path,
    workers: int,
    threads: int = 16,
    idp_env: dict[str, str] | None = None,
    spare_ports: int = 0,
    redirect_uris: tuple[str, ...] = (),
) -> Iterator[BFFStack]:
    """Provider proxy + provider + a fresh PostgreSQL database bench_<name>; the BFF is started
    by the caller (BFFStack.start_bff), its files under `root`. `redirect_uris` are registered
    for the same client besides the BFFs' (the incumbent's callback). Everything started here
    is stopped on the way out."""
    with ExitStack() as stack:
        proxy = ProviderProxy()
        stack.callback(proxy.stop)
        ports: list[int] = []
        while len(ports) < 1 + spare_ports:
            if (candidate := free_port()) not in ports:
                ports.append(candidate)
        port, *spares = ports
        idp = start_idp(
            root / "idp",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uris=[f"http://127.0.0.1:{p}/auth/callback/oidc" for p in [port, *spares]]
            + list(redirect_uris),
            post_logout_redirect_uris=[
                f"http://127.0.0.1:{p}/auth/signed-out" for p in [port, *spares]
            ],
            user_email=USER_EMAIL,
            user_password=USER_PASSWORD,
            env={"IDP_ISSUER": f"{proxy.url}/o", **(idp_env or {})},
        )
        stack.callback(idp.stop)
        proxy.target = f"http://127.0.0.1:{idp.port}"
        database_url = fresh_postgres_database(f"{DATABASE_PREFIX}_{name}")
        redis.Redis.from_url(REDIS_CACHE_URL).flushdb()
        result = BFFStack(
            root=root,
            proxy=proxy,
            idp=idp,
            database_url=database_url,
            upstream_url=upstream_url,
            port=port,
            workers=workers,
            threads=threads,
            spare_ports=spares,
        )
        stack.callback(result.stop_all)
        yield result
