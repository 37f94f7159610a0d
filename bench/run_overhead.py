"""Overhead: direct to the upstream vs the bare-Django floor vs the full BFF /api path.

One run, the same conditions for the three paths: requests/s and p50/p99 latency at
concurrency 1 and 32 (wrk, keep-alive, its own process), interleaved over --rounds rounds
(medians reported). The floor and the BFF run under gunicorn gthread with the same workers
and threads; the BFF with config.settings (DEBUG off, PostgreSQL, persistent connections) and
a session signed in through the real provider. Then --variants repeats the BFF with one
setting changed at a time (environment only, no code change) to show what each part costs,
and --py-spy profiles one BFF worker under load. Run from the repository root:

    .venv/bin/python -m bench.run_overhead [--duration 8] [--rounds 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.cpu import CPUMeter, postgres_backends
from bench.machine import machine
from bench.results import median, save, workdir
from bench.stacks import (
    REDIS_CACHE_ENV,
    UPSTREAM_NAME,
    BFFStack,
    Upstream,
    bff_stack,
    floor_server,
)
from bench.workers import (
    connections_per_pid,
    count_delta,
    server_pids,
    worker_counts,
    worker_pids,
)
from bench.wrk import wrk

CONCURRENCY = (1, 32)
TARGET_ADDED_P50_MS = 2.0
TARGET_SHARE_OF_FLOOR = 0.60
# Workers write their request counts every 0.2 s (bench/gunicorn_hooks.py).
COUNT_FLUSH_SECONDS = 0.5
# A run at c=32 where a worker served less than this share of the requests is repeated.
UNEVEN_SHARE = 0.25
# So is a run during which processes outside the benchmark used over this share of the CPU
# (the machine is shared): its numbers would say more about them than about the BFF.
BUSY_ELSEWHERE_SHARE = 0.25
MAX_ATTEMPTS = 2
PATHS = ("direct", "floor", "bff", "bff_redis")
# One thing changed at a time; "baseline" is the BFF as configured, on PostgreSQL alone. All
# are environment only, no code change; BENCH_CONN_HEALTH_CHECKS exists only in
# bench/bff_settings.py.
VARIANTS: dict[str, dict[str, str]] = {
    "baseline": {},
    "log_level_warning": {"LOG_LEVEL": "WARNING"},
    "no_conn_health_checks": {"BENCH_CONN_HEALTH_CHECKS": "false"},
    "redis_cache": REDIS_CACHE_ENV,
    "redis_cache_log_warning": {**REDIS_CACHE_ENV, "LOG_LEVEL": "WARNING"},
    "no_persistent_db": {"DATABASE_CONN_MAX_AGE": "0"},
}
# Frames (py-spy "function (file:line)") whose inclusive share of a BFF worker's samples the
# profile reports.
PROFILE_MARKERS = {
    "Django WSGI handler (the whole request in Django)": r"^WSGIHandler\.__call__ \(django/",
    "TokenSessionMiddleware": r"^TokenSessionMiddleware\.__call__ \(",
    "Django session load (SessionStore.load)": r"^SessionStore\.load \(django/contrib/sessions",
    "DB connection health check (SELECT 1)": r"^DatabaseWrapper\.is_usable \(",
    "load_session (token record + user query)": r"^load_session \(bff/sessions",
    "token decrypt (Fernet, 3 tokens)": r"^decrypt \(bff/crypto",
    "psycopg: waiting on PostgreSQL": r"^Connection\.wait \(psycopg/",
    "proxy view (forward)": r"^forward \(bff/proxy",
    "upstream call (requests Session.send)": r"^Session\.send \(requests/sessions",
    "relay the body": r"^relay_body \(bff/proxy",
    "logging": r"^Logger\.(info|warning|_log) \(logging/",
    "gunicorn: parse the request": r"^(Request\.__init__|RequestParser\.__next__) \(gunicorn/",
    "gunicorn: write the response": r"^Response\.(write|send_headers|close) \(gunicorn/",
}


@dataclass
class Target:
    """One path under test: its URL and headers, the processes whose CPU it costs, and (for a
    gunicorn server) where its workers count requests and the port they accept on."""

    url: str
    headers: dict[str, str]
    cpu_groups: dict[str, Callable[[], list[int]]]
    count_dir: Path | None = None
    port: int | None = None


def measure(target: Target, concurrency: int, duration: float) -> dict[str, Any]:
    """A wrk run (see measure_once), repeated up to MAX_ATTEMPTS times while its keep-alive
    connections landed so unevenly that a worker served under UNEVEN_SHARE of the requests
    (gunicorn keeps a connection on the worker that accepted it, and one worker sometimes
    accepts all of them), or while other processes took over BUSY_ELSEWHERE_SHARE of the
    CPU. The rejected attempts stay in the report ("uneven_attempts"); if every attempt was
    rejected the last one is used, marked with "rejected_because"."""
    uneven: list[dict[str, Any]] = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = measure_once(target, concurrency, duration)
        per_worker = report.get("requests_per_worker")
        seconds = report["cpu_seconds"]
        busy_elsewhere = seconds["other"] > BUSY_ELSEWHERE_SHARE * max(seconds["machine"], 0.01)
        uneven_spread = (
            concurrency > 1
            and per_worker
            and len(per_worker) > 1
            and min(per_worker.values()) < UNEVEN_SHARE * sum(per_worker.values())
        )
        if not (busy_elsewhere or uneven_spread):
            break
        report["rejected_because"] = "busy elsewhere" if busy_elsewhere else "uneven spread"
        if attempt < MAX_ATTEMPTS:
            uneven.append(report)
    report["uneven_attempts"] = uneven
    return report


def measure_once(target: Target, concurrency: int, duration: float) -> dict[str, Any]:
    """One wrk run: rps, latency, CPU per request by process group, spread over workers."""
    counting = target.count_dir is not None
    if counting:
        time.sleep(COUNT_FLUSH_SECONDS)
    before = worker_counts(target.count_dir) if counting else {}
    sampled: dict[int, int] = {}
    sampler = None
    if counting and concurrency > 1:

        def sample() -> None:
            time.sleep(duration / 2)
            sampled.update(connections_per_pid(target.port))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
    with CPUMeter(target.cpu_groups) as meter:
        report = wrk(target.url, connections=concurrency, duration=duration, headers=target.headers)
    if sampler:
        sampler.join()
    report["cpu_ms_per_request"] = meter.per_request_ms(report["requests"])
    report["cpu_seconds"] = meter.seconds
    if counting:
        time.sleep(COUNT_FLUSH_SECONDS)
        report["requests_per_worker"] = count_delta(before, worker_counts(target.count_dir))
        report["connections_per_worker"] = sampled
    return report


def check_paths(targets: dict[str, Target]) -> None:
    for name, target in targets.items():
        url = target.url
        response = requests.get(url, headers=target.headers, timeout=10)
        if response.status_code != 200 or not response.json().get("ok"):
            raise RuntimeError(f"{name} {url}: {response.status_code} {response.text[:300]}")


def spread_text(per_worker: dict) -> str:
    return "/".join(str(v) for v in sorted(per_worker.values(), reverse=True)) or "-"


def summarize(rounds: list[dict[str, dict[str, dict[str, Any]]]]) -> dict[str, Any]:
    """Medians over rounds per path and concurrency, and the two target ratios."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for c in CONCURRENCY:
        table[str(c)] = {}
        for name in PATHS:
            runs = [r[str(c)][name] for r in rounds]
            table[str(c)][name] = {
                "rps": median([x["rps"] for x in runs]),
                "p50_ms": median([x["p50_us"] / 1000 for x in runs]),
                "p99_ms": median([x["p99_us"] / 1000 for x in runs]),
                "errors": sum(x["errors"] for x in runs),
                "cpu_ms_per_request": {
                    group: round(median([x["cpu_ms_per_request"][group] for x in runs]), 3)
                    for group in runs[0]["cpu_ms_per_request"]
                },
            }
    c1, c32 = table["1"], table["32"]
    out: dict[str, Any] = {"table": table}
    for name in ("bff", "bff_redis"):
        added = c1[name]["p50_ms"] - c1["direct"]["p50_ms"]
        share = c32[name]["rps"] / c32["floor"]["rps"]
        out[name] = {
            "p50_minus_direct_p50_c1_ms": added,
            "rps_over_floor_rps_c32": share,
            "rps_over_floor_rps_c1": c1[name]["rps"] / c1["floor"]["rps"],
            "met_added_p50": added <= TARGET_ADDED_P50_MS,
            "met_share_of_floor": share >= TARGET_SHARE_OF_FLOOR,
        }
    out["floor_p50_minus_direct_p50_c1_ms"] = c1["floor"]["p50_ms"] - c1["direct"]["p50_ms"]
    return out


def bff_target(stack: BFFStack, upstream: Upstream) -> Target:
    redis = subprocess.run(["pidof", "redis-server"], capture_output=True, text=True).stdout
    return Target(
        url=f"{stack.url}/api/{UPSTREAM_NAME}/json",
        headers=stack.api_headers(),
        cpu_groups={
            "server": lambda: server_pids(stack.bff),
            "postgres": lambda: postgres_backends(stack.database_url),
            "redis": lambda: [int(pid) for pid in redis.split()],
            "upstream": lambda: [upstream.process.pid],
        },
        count_dir=stack.count_dir,
        port=stack.port,
    )


def run_variants(
    stack: BFFStack, upstream: Upstream, duration: float, names: list[str], rounds: int
) -> dict[str, dict[str, Any]]:
    """Each variant in turn (a BFF restart each), --rounds times interleaved; medians."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            stack.start_bff(env=VARIANTS[name], tag=f"-{name}")
            target = bff_target(stack, upstream)
            check_paths({name: target})
            wrk(target.url, connections=32, duration=2, headers=target.headers)  # warm-up
            runs[name].append({str(c): measure(target, c, duration) for c in CONCURRENCY})
    results = {}
    for name, reports in runs.items():
        entry: dict[str, Any] = {"env": VARIANTS[name], "runs": reports}
        for c in map(str, CONCURRENCY):
            entry[c] = {
                "rps": median([r[c]["rps"] for r in reports]),
                "p50_ms": median([r[c]["p50_us"] / 1000 for r in reports]),
                "p99_ms": median([r[c]["p99_us"] / 1000 for r in reports]),
                "errors": sum(r[c]["errors"] for r in reports),
                "cpu_ms_per_request": {
                    group: round(median([r[c]["cpu_ms_per_request"][group] for r in reports]), 3)
                    for group in reports[0][c]["cpu_ms_per_request"]
                },
            }
        results[name] = entry
    return results


def profile(stack: BFFStack, url: str, py_spy: str, seconds: float, root: Path) -> dict[str, Any]:
    """py-spy on one BFF worker while wrk holds 32 connections on the BFF, sampling every
    thread that is not idle: where a request's wall time goes, waits on PostgreSQL and the
    upstream included. (py-spy --gil, CPU only, finds no samples in a gunicorn worker here.)"""
    stack.start_bff(env={}, tag="-profile")
    headers = stack.api_headers()
    wrk(url, connections=32, duration=2, headers=headers)
    load = threading.Thread(
        target=wrk,
        args=(url,),
        kwargs={"connections": 32, "duration": seconds + 4, "headers": headers},
    )
    load.start()
    time.sleep(1)
    pid = worker_pids(stack.bff)[0]
    out = {}
    for mode, extra in (("wall", []),):
        path = root / f"bff-worker-{mode}.pyspy.txt"
        spy = subprocess.run(
            [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds))]
            + ["--rate", "250", "--format", "raw", "--output", str(path), "--nonblocking"]
            + extra,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
        if spy.returncode != 0 or not path.stat().st_size:
            raise RuntimeError(f"py-spy ({mode}) failed: {spy.stdout} {spy.stderr}")
        out[mode] = summarize_profile(path)
        out[mode]["raw"] = str(path)
    load.join()
    return out


def summarize_profile(path: Path) -> dict[str, Any]:
    """Inclusive shares of PROFILE_MARKERS and the top self frames, from py-spy raw output."""
    stacks: list[tuple[list[str], int]] = []
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((frames.split(";"), int(count)))
    total = sum(n for _, n in stacks) or 1
    inclusive = {}
    for label, pattern in PROFILE_MARKERS.items():
        rx = re.compile(pattern)
        hits = sum(n for frames, n in stacks if any(rx.search(f) for f in frames))
        inclusive[label] = round(100 * hits / total, 1)
    self_frames: collections.Counter[str] = collections.Counter()
    for frames, n in stacks:
        self_frames[frames[-1]] += n
    top = [
        {"frame": frame, "percent": round(100 * n / total, 1)}
        for frame, n in self_frames.most_common(20)
    ]
    return {"samples": total, "inclusive_percent": inclusive, "top_self": top}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (floor, BFF)")
    parser.add_argument("--threads", type=int, default=16, help="threads per worker")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="'' for none")
    parser.add_argument("--variant-duration", type=float, default=3)
    parser.add_argument("--variant-rounds", type=int, default=2)
    parser.add_argument("--py-spy", default="", help="path of py-spy: profile one BFF worker")
    parser.add_argument("--profile-seconds", type=float, default=8)
    args = parser.parse_args(argv)

    root = workdir("overhead")
    result: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "workers": args.workers,
            "threads": args.threads,
            "duration_s": args.duration,
            "rounds": args.rounds,
            "load_generator": "wrk -t1 (keep-alive), bench/wrk_report.lua",
        },
    }
    upstream = Upstream(root).start()
    floor = None
    try:
        floor = floor_server(root, upstream.url, workers=args.workers, threads=args.threads)
        # A one-hour access token: the overhead runs must never refresh.
        with bff_stack(
            "overhead",
            upstream.url,
            root=root,
            workers=args.workers,
            threads=args.threads,
            idp_env={"IDP_ACCESS_TOKEN_SECONDS": "3600"},
            spare_ports=1,
        ) as stack:
            stack.start_bff()
            targets = {
                "direct": Target(
                    f"{upstream.url}/json", {}, {"upstream": lambda: [upstream.process.pid]}
                ),
                "floor": Target(
                    f"{floor.url}/fwd/json",
                    {},
                    {
                        "server": lambda: server_pids(floor),
                        "upstream": lambda: [upstream.process.pid],
                    },
                    count_dir=floor.count_dir,
                    port=floor.port,
                ),
                "bff": bff_target(stack, upstream),
            }
            # The same BFF with the shared cache (Redis) as a second instance on the database.
            redis_bff = stack.another()
            redis_bff.start_bff(env=REDIS_CACHE_ENV, tag="-redis")
            targets["bff_redis"] = bff_target(redis_bff, upstream)
            api_url = targets["bff"].url
            check_paths(targets)
            for target in targets.values():
                wrk(target.url, connections=32, duration=2, headers=target.headers)  # warm-up
            rounds = []
            for number in range(args.rounds):
                this_round = {}
                for c in CONCURRENCY:
                    this_round[str(c)] = {
                        name: measure(target, c, args.duration) for name, target in targets.items()
                    }
                rounds.append(this_round)
                print(f"round {number + 1}/{args.rounds} done", file=sys.stderr)
            result["rounds"] = rounds
            result["summary"] = summarize(rounds)
            result["spread_c32"] = [
                {
                    name: {
                        "requests_per_worker": r["32"][name]["requests_per_worker"],
                        "connections_per_worker": r["32"][name]["connections_per_worker"],
                    }
                    for name in ("floor", "bff", "bff_redis")
                }
                for r in rounds
            ]
            redis_bff.stop_bff()
            names = [n for n in args.variants.split(",") if n]
            if names:
                result["variants"] = run_variants(
                    stack, upstream, args.variant_duration, names, args.variant_rounds
                )
            if args.py_spy:
                result["profile"] = profile(stack, api_url, args.py_spy, args.profile_seconds, root)
    finally:
        if floor:
            floor.stop()
        upstream.stop()
    result["workdir"] = str(root)
    save("overhead", result)
    print(report(result))
    return result


def report(result: dict[str, Any]) -> str:
    s = result["summary"]
    lines = [
        f"Overhead ({result['settings']['workers']} workers x {result['settings']['threads']}"
        f" threads, {result['settings']['rounds']} rounds x {result['settings']['duration_s']} s,"
        " medians)",
        f"{'path':9} {'c':>3} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
        "   CPU ms/request: server postgres redis upstream wrk other",
    ]
    for c in CONCURRENCY:
        for name in PATHS:
            row = s["table"][str(c)][name]
            cpu = row["cpu_ms_per_request"]
            lines.append(
                f"{name:9} {c:>3} {row['rps']:>9.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f}"
                f" {row['errors']:>6}   {' ' * 16}{cpu.get('server', 0):>6.3f}"
                f" {cpu.get('postgres', 0):>8.3f} {cpu.get('redis', 0):>5.3f}"
                f" {cpu.get('upstream', 0):>8.3f}"
                f" {cpu.get('load_generator', 0):>5.3f} {cpu.get('other', 0):>5.3f}"
            )
    labels = {"bff": "BFF (PostgreSQL)", "bff_redis": "BFF (PostgreSQL + Redis cache)"}
    for name, label in labels.items():
        r = s[name]
        lines.append(
            f"{label}: p50 - direct p50 at c=1 = {r['p50_minus_direct_p50_c1_ms']:.2f} ms"
            f" (target <= 2 ms: {'met' if r['met_added_p50'] else 'NOT met'});"
            f" req/s / floor req/s at c=32 = {100 * r['rps_over_floor_rps_c32']:.0f} %"
            f" (target >= 60 %: {'met' if r['met_share_of_floor'] else 'NOT met'})"
        )
    lines.append(f"(the floor itself adds {s['floor_p50_minus_direct_p50_c1_ms']:.2f} ms at c=1)")
    retried = sum(
        len(r[c][name].get("uneven_attempts", []))
        for r in result["rounds"]
        for c in r
        for name in r[c]
    )
    lines.append(
        f"runs repeated (a worker got < 25 % of the requests, or other processes used > 25 %"
        f" of the CPU): {retried}"
    )
    for i, spread in enumerate(result["spread_c32"], 1):
        lines.append(
            f"round {i} spread at c=32 (requests / connections per worker):"
            + ", ".join(
                f" {name} {spread_text(spread[name]['requests_per_worker'])}"
                f" / {spread_text(spread[name]['connections_per_worker'])}"
                for name in spread
            )
        )
    if result.get("variants"):
        lines.append(
            "BFF variants (one change each, BFF restarted for each; medians of"
            f" {len(next(iter(result['variants'].values()))['runs'])} interleaved rounds):"
        )
        lines.append(
            f"{'variant':24} {'c=1 p50':>8} {'c=1 rps':>8} {'c=32 rps':>9} {'c=32 p99':>9}"
            "  CPU ms/req at c=32: server postgres redis"
        )
        for name, v in result["variants"].items():
            cpu = v["32"]["cpu_ms_per_request"]
            lines.append(
                f"{name:24} {v['1']['p50_ms']:>8.2f} {v['1']['rps']:>8.0f}"
                f" {v['32']['rps']:>9.0f} {v['32']['p99_ms']:>9.2f}"
                f"  {' ' * 19}{cpu['server']:>6.3f} {cpu['postgres']:>8.3f}"
                f" {cpu['redis']:>5.3f}"
            )
    if result.get("profile"):
        lines.append("Profile of one BFF worker at c=32 (py-spy; inclusive % of samples):")
        for label, pct in result["profile"]["wall"]["inclusive_percent"].items():
            lines.append(f"{pct:>6.1f}%  {label}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
