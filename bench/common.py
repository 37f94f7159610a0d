"""Shared parts of the benchmarks: the servers, sign-in, the load generator, process stats.

The servers are real processes on 127.0.0.1, started with the helpers the tests use
(tests/support): the BFF and the floor under gunicorn gthread, the built-in provider behind
the counting ProviderProxy, and the asyncio upstream (bench/upstream.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import redis
import requests

from tests.support.bff import POSTGRES_ADMIN_URL, fresh_postgres_database, start_bff
from tests.support.idp import provider_sign_in, start_idp
from tests.support.provider_proxy import ProviderProxy
from tests.support.servers import ROOT, Server, free_port, stop_process

BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
WRK_SCRIPT = BENCH / "wrk_report.lua"
HOOKS = "bench/gunicorn_hooks.py"

CLIENT_ID = "bff-test"
CLIENT_SECRET = "bff-test-secret"
USER_EMAIL = "alice@example.com"
USER_PASSWORD = "correct horse battery staple"
UPSTREAM_NAME = "bench"
# The Redis database the benchmarks' BFFs use as their cache (flushed by each run).
REDIS_CACHE_URL = "redis://127.0.0.1:6379/13"
# The scale-out configuration: a shared cache, so sessions are cached_db and records cached.
REDIS_CACHE_ENV = {
    "CACHE_URL": REDIS_CACHE_URL,
    "DJANGO_SESSION_ENGINE": "django.contrib.sessions.backends.cached_db",
}
DATABASE_LOCK = "bff.locks.database.DatabaseLock"
REDIS_LOCK = "bff.locks.redis.RedisLock"


# --- Results -----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    versions = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, gunicorn, requests, urllib3, psycopg;"
            "print(django.__version__, gunicorn.__version__, requests.__version__,"
            " urllib3.__version__, psycopg.__version__)",
        ],
        capture_output=True,
        text=True,
    ).stdout.split()
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    with psycopg.connect(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/postgres") as db:
        postgres = db.execute("SHOW server_version").fetchone()[0]
    return {
        "code": code_state(),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": versions[0] if versions else "?",
        "gunicorn": versions[1] if len(versions) > 1 else "?",
        "requests": versions[2] if len(versions) > 2 else "?",
        "urllib3": versions[3] if len(versions) > 3 else "?",
        "psycopg": versions[4] if len(versions) > 4 else "?",
        "postgresql": postgres,
        "wrk": wrk.split(" [")[0].strip() or "?",
        "loadavg_at_start": os.getloadavg(),
    }


def code_state() -> dict[str, Any]:
    """Which code was measured: the commit, and the files changed on top of it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()

    changed = [
        line[3:]
        for line in git("status", "--porcelain", "--", "bff", "accounts", "config").splitlines()
    ]
    diff = git("diff", "HEAD", "--", "bff", "accounts", "config")
    return {
        "commit": git("rev-parse", "HEAD"),
        "changed_files": changed,
        "diff_sha1": hashlib.sha1(diff.encode()).hexdigest() if diff else None,
    }


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def workdir(name: str) -> Path:
    """A fresh bench/results/<name>/ for one run's servers, logs and raw files."""
    path = RESULTS / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of `values`."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- Servers -----------------------------------------------------------------------------------


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
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, str(BENCH / "upstream.py"), "--port", str(self.port)],
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
        stop_process(self.process, getattr(self, "_log", None))


def counting_env(count_dir: Path) -> dict[str, str]:
    """Environment for a gunicorn server that counts requests per worker (bench/gunicorn_hooks)."""
    count_dir.mkdir(parents=True, exist_ok=True)
    return {"GUNICORN_CMD_ARGS": f"-c {HOOKS}", "BENCH_COUNT_DIR": str(count_dir)}


def worker_pids(server: Server) -> list[int]:
    """The gunicorn workers of `server` (children of its master)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sorted(int(child) for child in children)


def worker_counts(count_dir: Path) -> dict[int, int]:
    counts = {}
    for path in count_dir.iterdir():
        text = path.read_text().strip()
        counts[int(path.name)] = int(text) if text else 0
    return counts


def count_delta(before: dict[int, int], after: dict[int, int]) -> dict[int, int]:
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
        self, *, lock_backend: str = DATABASE_LOCK, env: dict[str, str] | None = None, tag: str = ""
    ) -> Server:
        """(Re)start the BFF with this configuration and sign in a fresh session."""
        self.stop_bff()
        self.count_dir = self.root / f"counts-bff-{self.port}{tag}"
        if self.count_dir.exists():
            shutil.rmtree(self.count_dir)
        self.env = {
            "DJANGO_SETTINGS_MODULE": "bench.bff_settings",
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
        self.cookie = sign_in(self.url)
        with self.db() as db:
            self.record_id = str(
                db.execute(
                    "SELECT id FROM bff_tokensession WHERE ended_at IS NULL"
                    " ORDER BY created_at DESC LIMIT 1"
                ).fetchone()[0]
            )
        return self.bff

    def stop_bff(self) -> None:
        if self.bff is not None:
            self.bff.stop()
            self.bff = None

    def api_headers(self) -> dict[str, str]:
        return {"Cookie": f"bff_session={self.cookie}", "X-CSRF": "1", "Origin": self.url}

    def db(self) -> psycopg.Connection:
        return psycopg.connect(self.database_url, autocommit=True)


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
) -> Iterator[BFFStack]:
    """Provider proxy + provider + a fresh PostgreSQL database bench_<name>; the BFF is started
    by the caller (BFFStack.start_bff), its files under `root`. Everything started here is
    stopped on the way out."""
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
            redirect_uris=[f"http://127.0.0.1:{p}/auth/callback/oidc" for p in [port, *spares]],
            post_logout_redirect_uris=[f"http://127.0.0.1:{p}/" for p in [port, *spares]],
            user_email=USER_EMAIL,
            user_password=USER_PASSWORD,
            env={"IDP_ISSUER": f"{proxy.url}/o", **(idp_env or {})},
        )
        stack.callback(idp.stop)
        proxy.target = f"http://127.0.0.1:{idp.port}"
        database_url = fresh_postgres_database(f"bench_{name}")
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


def sign_in(bff_url: str) -> str:
    """Sign in through the BFF and the provider's pages like a browser; the bff_session value."""
    browser = requests.Session()
    try:
        start = browser.get(
            f"{bff_url}/auth/login?{urlencode({'next': '/'})}", allow_redirects=False
        )
        if start.status_code != 302:
            raise RuntimeError(f"/auth/login answered {start.status_code}: {start.text[:500]}")
        to_callback = provider_sign_in(
            browser, start.headers["Location"], USER_EMAIL, USER_PASSWORD
        )
        done = browser.get(to_callback.headers["Location"], allow_redirects=False)
        if done.status_code != 302 or not browser.cookies.get("bff_session"):
            raise RuntimeError(f"the callback answered {done.status_code}: {done.text[:500]}")
        return browser.cookies.get("bff_session")
    finally:
        browser.close()


def make_due(
    database_url: str, record_id: str, remaining: float = 10.0, lifetime: float = 900.0
) -> None:
    """Put a record's access token `remaining` seconds before expiry (inside the buffer).

    Its copy in the Redis cache (bff.record_cache, when a BFF uses one) is dropped, so the
    next request reads the aged record, as it would once the time had really passed.
    """
    with psycopg.connect(database_url, autocommit=True) as db:
        db.execute(
            "UPDATE bff_tokensession SET"
            " access_issued_at = now() - make_interval(secs => %s),"
            " access_expires_at = now() + make_interval(secs => %s),"
            " refresh_retry_at = NULL, refresh_failures = 0"
            " WHERE id = %s",
            (lifetime - remaining, remaining, record_id),
        )
    forget_cached_record(record_id)


def forget_cached_record(record_id: str) -> None:
    """Drop a record's copy from the benchmarks' Redis cache (Django's key format :1:<key>)."""
    redis.Redis.from_url(REDIS_CACHE_URL).delete(f":1:bff:record:{record_id}")


# --- Load generator ------------------------------------------------------------------------------


def wrk(
    url: str,
    *,
    connections: int,
    duration: float,
    headers: dict[str, str] | None = None,
    threads: int = 1,
    timeout: float = 10,
) -> dict[str, Any]:
    """Run wrk (keep-alive, its own process) against `url`; return its report with rps."""
    command = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={max(1, round(timeout))}s",
        "-s",
        str(WRK_SCRIPT),
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    result = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    line = next((x for x in result.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed:\n{result.stdout}\n{result.stderr}")
    report = json.loads(line.removeprefix("BENCH_JSON "))
    report["rps"] = report["requests"] / (report["duration_us"] / 1e6)
    report["errors"] = sum(
        report[k]
        for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    report["connections"] = connections
    return report


# --- Process memory ---------------------------------------------------------------------------


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {
        key: int(re.search(rf"{key}:\s+(\d+) kB", status).group(1)) for key in ("VmRSS", "VmHWM")
    }


def reset_peak(pid: int) -> None:
    """Reset VmHWM to the current RSS (writing 5 to clear_refs; needs the process's owner)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class RSSSampler:
    """Samples VmRSS of some processes every `interval` seconds while it runs."""

    def __init__(self, pids: list[int], interval: float = 0.02) -> None:
        self.pids = pids
        self.interval = interval
        self.peak = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pids:
                try:
                    self.peak[pid] = max(self.peak[pid], memory_kib(pid)["VmRSS"])
                except (FileNotFoundError, AttributeError):
                    pass
            time.sleep(self.interval)

    def __enter__(self) -> RSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- CPU accounting ------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each live process in `pids`."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return out


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


def postgres_backends(database_url: str) -> list[int]:
    """The server processes of the other connections to this database."""
    with psycopg.connect(database_url, autocommit=True) as db:
        rows = db.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [row[0] for row in rows]


def server_pids(server: Server) -> list[int]:
    return [server.process.pid, *worker_pids(server)]


class CPUMeter:
    """CPU seconds per group of processes over a stretch of time (a wrk run).

    Groups are callables returning pids, looked up at start and at stop (their union is
    counted; a process that ended in between is lost). `load_generator` is this process's
    waited-for children (wrk); `other` is what the rest of the machine used meanwhile.
    """

    def __init__(self, groups: dict[str, Any]) -> None:
        self.groups = groups

    def __enter__(self) -> CPUMeter:
        self._pids = {name: set(find()) for name, find in self.groups.items()}
        self._start = {name: cpu_seconds(sorted(pids)) for name, pids in self._pids.items()}
        self._children = os.times().children_user + os.times().children_system
        self._machine = machine_busy_seconds()
        self._wall = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds: dict[str, float] = {}
        for name, find in self.groups.items():
            pids = sorted(self._pids[name] | set(find()))
            now = cpu_seconds(pids)
            self.seconds[name] = sum(now[p] - self._start[name].get(p, 0.0) for p in now)
        times = os.times()
        self.seconds["load_generator"] = (
            times.children_user + times.children_system - self._children
        )
        self.seconds["machine"] = machine_busy_seconds() - self._machine
        self.seconds["other"] = self.seconds["machine"] - sum(
            v for k, v in self.seconds.items() if k != "machine"
        )
        self.wall = time.monotonic() - self._wall

    def per_request_ms(self, requests_done: int) -> dict[str, float]:
        return {
            name: round(1000 * value / max(requests_done, 1), 3)
            for name, value in self.seconds.items()
        }
