"""What the numbers were measured on: the machine, the software versions, the code state."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from tests.support.bff import POSTGRES_ADMIN_URL
from tests.support.servers import ROOT


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
