"""The load generator: wrk (keep-alive, its own process) and its report (bench/wrk_report.lua)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_report.lua"


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
    return parse_report(result.stdout, result.stderr, connections)


def parse_report(stdout: str, stderr: str, connections: int) -> dict[str, Any]:
    """The BENCH_JSON line wrk_report.lua printed, with rps, errors and connections added."""
    line = next((x for x in stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed:\n{stdout}\n{stderr}")
    report = json.loads(line.removeprefix("BENCH_JSON "))
    report["rps"] = report["requests"] / (report["duration_us"] / 1e6)
    report["errors"] = sum(
        report[k]
        for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    report["connections"] = connections
    return report
