"""Run every benchmark, each in its own process, and print their summaries.

Raw results go to bench/results/ (gitignored): <name>.json per benchmark, the servers' logs
in a directory per run, and summary.txt with what is printed here.

    make bench            (= .venv/bin/python bench/run_all.py)
    .venv/bin/python bench/run_all.py --quick     (shorter runs, for a smoke test)
    .venv/bin/python bench/run_all.py --py-spy /path/to/py-spy   (profile a BFF worker)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"


def scripts(quick: bool, py_spy: str) -> list[tuple[str, list[str]]]:
    overhead = ["--duration", "3", "--rounds", "1", "--variant-duration", "2"] if quick else []
    if py_spy:
        overhead += ["--py-spy", py_spy]
    return [
        ("run_overhead.py", overhead),
        ("run_streaming.py", ["--repeat", "1"] if quick else []),
        ("run_refresh_storm.py", ["--storms", "1"] if quick else []),
        ("run_queries.py", []),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--py-spy",
        default=os.environ.get("BENCH_PY_SPY") or shutil.which("py-spy") or "",
        help="path of py-spy, to profile a BFF worker (default: BENCH_PY_SPY or PATH)",
    )
    parser.add_argument("--only", default="", help="comma-separated script names to run")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary = [
        f"bench run {time.strftime('%Y-%m-%d %H:%M:%S')}, load average at start"
        f" {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    ]
    failed = []
    for script, extra in scripts(args.quick, args.py_spy):
        if args.only and script.removesuffix(".py") not in args.only.split(","):
            continue
        started = time.monotonic()
        print(f"== {script} {' '.join(extra)}", file=sys.stderr, flush=True)
        completed = subprocess.run(
            [sys.executable, str(BENCH / script), *extra],
            capture_output=True,
            text=True,
            timeout=900,
        )
        seconds = time.monotonic() - started
        (RESULTS / f"{script.removesuffix('.py')}.log").write_text(
            completed.stdout + completed.stderr
        )
        if completed.returncode != 0:
            failed.append(script)
            summary.append(
                f"== {script}: FAILED ({completed.returncode})\n{completed.stderr[-3000:]}"
            )
        else:
            summary.append(f"== {script} ({seconds:.0f} s)\n{completed.stdout.strip()}")
        print(summary[-1], flush=True)
    (RESULTS / "summary.txt").write_text("\n\n".join(summary) + "\n")
    print(f"\nraw results: {RESULTS}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
