#!/usr/bin/env python
"""Before the suite: PostgreSQL and Redis must answer (the scale-out and fault tests use them
for real), Debian's Chromium must be installed for the browser tests and Debian's nginx for the
slow-client tests (tests/faults, deploy/nginx.conf); with --bench, wrk for `make bench` too.
Fails loudly, never skips."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

SERVICES = {
    "PostgreSQL": (
        "127.0.0.1",
        5432,
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
    "Redis": (
        "127.0.0.1",
        6379,
        'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
    ),
}
# Debian packages the tests run, by the file each one installs.
PACKAGES = {
    "chromium": "/usr/bin/chromium",
    "nginx": "/usr/sbin/nginx",
    # tests/faults starts a redis-server of its own, to break it.
    "redis-server": "/usr/bin/redis-server",
}
# What `make bench` needs besides: the load generator.
BENCH_PACKAGES = {"wrk": "/usr/bin/wrk"}


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def main() -> int:
    missing = [
        f"{name} is not answering on {host}:{port}; start it with: {how}"
        for name, (host, port, how) in SERVICES.items()
        if not reachable(host, port)
    ]
    wanted = {**PACKAGES, **(BENCH_PACKAGES if "--bench" in sys.argv[1:] else {})}
    absent = {package: path for package, path in wanted.items() if not os.path.exists(path)}
    if absent and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"Installing Debian's {', '.join(absent)} …", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *absent], check=False, env=env)
    missing += [
        f"{path} is missing: apt-get install -y {package}"
        for package, path in absent.items()
        if not os.path.exists(path)
    ]
    for problem in missing:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
