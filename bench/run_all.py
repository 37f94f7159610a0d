"""Run every benchmark, each in its own process, and print their summaries.

Raw results go to bench/results/ (gitignored): <name>.json per benchmark, the servers' logs
in a directory per run, and summary.txt with what is printed here. Last comes issue 13's
target table (bench.tables, markdown as docs/benchmarks.md takes it): each target met or
not, the incumbent rung beside the BFF, from this run's results only. Each benchmark runs as a
module (python -m bench.<name>) from the repository root; so does this one:

    make bench            (= .venv/bin/python -m bench.run_all)
    .venv/bin/python -m bench.run_all --quick     (shorter runs, for a smoke test)
    .venv/bin/python -m bench.run_all --py-spy /path/to/py-spy   (profile a BFF worker)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import run_scale, tables
from bench.results import RESULTS

ROOT = Path(__file__).resolve().parents[1]


def scripts(quick: bool, py_spy: str) -> list[tuple[str, list[str]]]:
    """The benchmark modules (bench.<name>) to run, each with its arguments."""
    overhead = ["--duration", "3", "--rounds", "1", "--variant-duration", "2"] if quick else []
    if py_spy:
        overhead += ["--py-spy", py_spy]
    return [
        ("run_overhead", overhead),
        ("run_streaming", ["--repeat", "1"] if quick else []),
        ("run_relay_ceiling", ["--repeat", "2"] if quick else []),
        ("run_refresh_storm", ["--storms", "1"] if quick else []),
        ("run_queries", []),
        ("run_scale", ["--duration", "3"] if quick else []),
    ]


def this_run(name: str, since: float) -> dict | None:
    """bench/results/<name>.json if this run wrote it, else None."""
    path = RESULTS / f"{name}.json"
    if not path.is_file() or path.stat().st_mtime < since:
        return None
    return json.loads(path.read_text())


def main() -> int:
    """Run the benchmarks in turn; 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--py-spy",
        default=os.environ.get("BENCH_PY_SPY") or shutil.which("py-spy") or "",
        help="path of py-spy, to profile a BFF worker (default: BENCH_PY_SPY or PATH)",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated benchmarks to run (e.g. run_queries)"
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary = [
        f"bench run {time.strftime('%Y-%m-%d %H:%M:%S')}, load average at start"
        f" {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    ]
    only = [item.strip().removesuffix(".py") for item in args.only.split(",") if item.strip()]
    run_started = time.time()
    failed = []
    for name, extra in scripts(args.quick, args.py_spy):
        if only and name not in only:
            continue
        module = f"bench.{name}"
        started = time.monotonic()
        print(f"== {module} {' '.join(extra)}", file=sys.stderr, flush=True)
        completed = subprocess.run(
            [sys.executable, "-m", module, *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        seconds = time.monotonic() - started
        (RESULTS / f"{name}.log").write_text(completed.stdout + completed.stderr)
        if completed.returncode != 0:
            failed.append(name)
            summary.append(
                f"== {module}: FAILED ({completed.returncode})\n{completed.stderr[-3000:]}"
            )
        else:
            summary.append(f"== {module} ({seconds:.0f} s)\n{completed.stdout.strip()}")
        print(summary[-1], flush=True)
    overhead = this_run("overhead", run_started)
    if overhead:
        summary.append(
            "== Issue 13 targets (this run; markdown)\n"
            + tables.target_table(
                overhead,
                this_run("queries", run_started),
                this_run("streaming", run_started),
                this_run("refresh_storm", run_started),
                this_run("relay_ceiling", run_started),
            )
            + "\n\nScale figures (this run; markdown)\n"
            + tables.scale_table(overhead["summary"])
        )
        if scale := this_run("scale", run_started):
            summary[-1] += "\n\n" + run_scale.report(scale)
        print(summary[-1], flush=True)
    (RESULTS / "summary.txt").write_text("\n\n".join(summary) + "\n")
    print(f"\nraw results: {RESULTS}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
