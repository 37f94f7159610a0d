"""CPU accounting: CPU seconds per group of processes over a run, from /proc."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import psycopg

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
    """The server processes of the other connections to this database (pg_stat_activity)."""
    with psycopg.connect(database_url, autocommit=True) as db:
        rows = db.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [row[0] for row in rows]


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
        """CPU milliseconds per request of each group over the stretch."""
        return {
            name: round(1000 * value / max(requests_done, 1), 3)
            for name, value in self.seconds.items()
        }
