"""Scale-out: two BFF instances on one PostgreSQL + Redis, requests spread over both.

Instance A and instance B are two gunicorn servers (each --workers x --threads, gthread) of
the BFF with the shared cache (PostgreSQL + Redis: sessions cached_db, records cached), on
one database, each with a session signed in through the real provider. Per round (--rounds,
medians): A alone, B alone, then A and B at once, each time wrk with --connections per
instance (two wrk processes side by side for the pair: the simplest round-robin a load
balancer does). Reported: req/s of each, the pair's sum over the two alone ("adds up" is
1.0), the CPU the BFF processes and the stores spent per request (req/s per core = 1000 /
those ms), and the RSS of every worker. On a machine with fewer free cores than the pair
needs the sum cannot reach the two alone: the CPU figures say whether the BFF or the
machine was the limit. Run from the repository root:

    .venv/bin/python -m bench.run_scale [--duration 5] [--rounds 2] [--workers 1]
"""

from __future__ import annotations

import argparse
import subprocess
import threading
from typing import Any

from bench.cpu import CPUMeter, postgres_backends
from bench.machine import machine
from bench.memory import memory_kib
from bench.results import median, save, workdir
from bench.stacks import REDIS_CACHE_ENV, UPSTREAM_NAME, BFFStack, Upstream, bff_stack
from bench.workers import server_pids, worker_pids
from bench.wrk import wrk


def run_together(
    instances: dict[str, BFFStack], stack: BFFStack, connections: int, duration: float
) -> dict[str, Any]:
    """wrk on each instance at once (one process each); req/s each, CPU per request."""
    redis = subprocess.run(["pidof", "redis-server"], capture_output=True, text=True).stdout
    groups = {
        "bff": lambda: [pid for i in instances.values() for pid in server_pids(i.bff)],
        "postgres": lambda: postgres_backends(stack.database_url),
        "redis": lambda: [int(pid) for pid in redis.split()],
    }
    reports: dict[str, dict[str, Any]] = {}

    def load(name: str, instance: BFFStack) -> None:
        reports[name] = wrk(
            f"{instance.url}/api/{UPSTREAM_NAME}/json",
            connections=connections,
            duration=duration,
            headers=instance.api_headers(),
        )

    with CPUMeter(groups) as meter:
        threads = [
            threading.Thread(target=load, args=(name, instance))
            for name, instance in instances.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    done = sum(r["requests"] for r in reports.values())
    cpu = meter.per_request_ms(done)
    own = cpu["bff"] + cpu["postgres"] + cpu["redis"]
    return {
        "rps": {name: r["rps"] for name, r in reports.items()},
        "rps_total": sum(r["rps"] for r in reports.values()),
        "errors": sum(r["errors"] for r in reports.values()),
        "cpu_ms_per_request": cpu,
        "rps_per_core": 1000 / own if own else float("nan"),
        "machine_cores_busy": meter.seconds["machine"] / meter.wall,
        "worker_rss_mib": {
            pid: round(memory_kib(pid)["VmRSS"] / 1024, 1)
            for i in instances.values()
            for pid in worker_pids(i.bff)
        },
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers per instance")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--connections", type=int, default=16, help="wrk connections per instance")
    args = parser.parse_args(argv)
    root = workdir("scale")
    result: dict[str, Any] = {"machine": machine(), "settings": vars(args)}
    upstream = Upstream(root).start()
    try:
        with bff_stack(
            "scale",
            upstream.url,
            root=root,
            workers=args.workers,
            threads=args.threads,
            idp_env={"IDP_ACCESS_TOKEN_SECONDS": "3600"},
            spare_ports=1,
        ) as stack:
            stack.start_bff(env=REDIS_CACHE_ENV, tag="-a")
            other = stack.another()
            other.start_bff(env=REDIS_CACHE_ENV, tag="-b")
            instances = {"A": stack, "B": other}
            for instance in instances.values():  # warm-up
                run_together({"x": instance}, stack, args.connections, 2)
            rounds = []
            for _ in range(args.rounds):
                rounds.append(
                    {
                        "A alone": run_together(
                            {"A": stack}, stack, args.connections, args.duration
                        ),
                        "B alone": run_together(
                            {"B": other}, stack, args.connections, args.duration
                        ),
                        "A + B": run_together(instances, stack, args.connections, args.duration),
                    }
                )
            result["rounds"] = rounds
    finally:
        upstream.stop()
    result["summary"] = summarize(result["rounds"])
    result["workdir"] = str(root)
    save("scale", result)
    print(report(result))
    return result


def summarize(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in rounds[0]:
        runs = [r[name] for r in rounds]
        out[name] = {
            "rps_total": median([x["rps_total"] for x in runs]),
            "rps_per_core": median([x["rps_per_core"] for x in runs]),
            "machine_cores_busy": median([x["machine_cores_busy"] for x in runs]),
            "errors": sum(x["errors"] for x in runs),
            "worker_rss_mib_max": max(v for x in runs for v in x["worker_rss_mib"].values()),
        }
    alone = out["A alone"]["rps_total"] + out["B alone"]["rps_total"]
    out["adds_up"] = out["A + B"]["rps_total"] / alone if alone else float("nan")
    return out


def report(result: dict[str, Any]) -> str:
    s = result["summary"]
    settings = result["settings"]
    lines = [
        f"Two BFF instances on one PostgreSQL + Redis ({settings['workers']} worker(s) x"
        f" {settings['threads']} threads each, wrk {settings['connections']} connections per"
        f" instance, medians of {settings['rounds']} rounds):",
        "| run | req/s | req/s per core (BFF + stores) | machine cores busy | largest worker RSS |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in ("A alone", "B alone", "A + B"):
        row = s[name]
        lines.append(
            f"| {name} | {row['rps_total']:.0f} | {row['rps_per_core']:.0f} |"
            f" {row['machine_cores_busy']:.2f} | {row['worker_rss_mib_max']:.0f} MiB |"
        )
    lines.append(
        f"A + B together / (A alone + B alone) = {s['adds_up']:.2f} (1.00 = throughput adds up)"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
