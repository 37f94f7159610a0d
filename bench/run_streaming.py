"""Streaming: a 200 MB download and a 200 MB upload, direct to the upstream and through the BFF.

curl (its own process) moves the bytes; throughput through the BFF is compared with direct in
the same run (--repeat transfers each, alternating, best and median reported), and the BFF
workers' resident memory is watched: VmHWM (peak RSS) is reset before each transfer and read
after it, and VmRSS is sampled every 20 ms; the growth is peak minus the RSS before. Target:
under 32 MB. Run from the repository root:

    .venv/bin/python -m bench.run_streaming [--megabytes 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path
from typing import Any

from bench.cpu import cpu_seconds
from bench.machine import machine
from bench.memory import RSSSampler, memory_kib, reset_peak
from bench.results import median, save, workdir
from bench.stacks import UPSTREAM_NAME, BFFStack, Upstream, bff_stack
from bench.workers import worker_pids

MB = 1000 * 1000
TARGET_GROWTH_MB = 32
# The BFF as configured (environment added to the BFF's, by configuration name).
CONFIGS: dict[str, dict[str, str]] = {"as_is": {}}


def curl(args: list[str], timeout: float = 300) -> dict[str, Any]:
    out = subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--output",
            "/dev/null",
            "--write-out",
            "%{http_code} %{size_download} %{size_upload} %{time_total}",
            "-H",
            "Expect:",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise RuntimeError(f"curl failed: {out.stderr}")
    status, down, up, seconds = out.stdout.split()
    return {
        "status": int(status),
        "downloaded": int(down),
        "uploaded": int(up),
        "seconds": float(seconds),
    }


def transfer(
    kind: str, url: str, headers: dict[str, str], size: int, upload_file: Path
) -> dict[str, Any]:
    args = [item for name, value in headers.items() for item in ("-H", f"{name}: {value}")]
    if kind == "download":
        result = curl([*args, f"{url}?bytes={size}"])
        moved = result["downloaded"]
    else:
        result = curl([*args, "-X", "POST", "--upload-file", str(upload_file), url])
        moved = result["uploaded"]
    if result["status"] != 200 or moved != size:
        raise RuntimeError(f"{kind} {url}: status {result['status']}, {moved} of {size} bytes")
    result["mb_per_s"] = size / MB / result["seconds"]
    return result


def through_bff(
    stack: BFFStack, kind: str, url: str, size: int, upload_file: Path
) -> dict[str, Any]:
    pids = worker_pids(stack.bff)
    before = {}
    for pid in pids:
        reset_peak(pid)
        before[pid] = memory_kib(pid)["VmRSS"]
    cpu_before = cpu_seconds(pids)
    with RSSSampler(pids) as sampler:
        result = transfer(kind, url, stack.api_headers(), size, upload_file)
    cpu = sum(cpu_seconds(pids).values()) - sum(cpu_before.values())
    # Below 1 the relay waited (on a socket, or for a CPU) for the rest of the transfer.
    result["worker_cpu_share"] = cpu / result["seconds"]
    growth = {}
    for pid in pids:
        peak = max(memory_kib(pid)["VmHWM"], sampler.peak[pid])
        growth[pid] = (peak - before[pid]) / 1024
    result["rss_before_mib"] = {pid: kib / 1024 for pid, kib in before.items()}
    result["peak_growth_mib"] = growth
    result["max_worker_growth_mib"] = max(growth.values())
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    size = args.megabytes * MB
    root = workdir("streaming")
    upload_file = root / "upload.bin"
    with upload_file.open("wb") as f:
        block = os.urandom(MB)
        for _ in range(args.megabytes):
            f.write(block)
    result: dict[str, Any] = {"machine": machine(), "bytes": size, "runs": {}}
    upstream = Upstream(root).start()
    try:
        with bff_stack(
            "streaming",
            upstream.url,
            root=root,
            workers=args.workers,
            idp_env={"IDP_ACCESS_TOKEN_SECONDS": "3600"},
        ) as stack:
            for config, env in CONFIGS.items():
                stack.start_bff(env=env, tag=f"-{config}")
                result["runs"][config] = {}
                for kind in ("download", "upload"):
                    runs: dict[str, list[dict[str, Any]]] = {"direct": [], "bff": []}
                    direct_url = f"{upstream.url}/{kind}"
                    bff_url = f"{stack.url}/api/{UPSTREAM_NAME}/{kind}"
                    for _ in range(args.repeat):
                        runs["direct"].append(transfer(kind, direct_url, {}, size, upload_file))
                        runs["bff"].append(through_bff(stack, kind, bff_url, size, upload_file))
                    result["runs"][config][kind] = runs
    finally:
        upstream.stop()
        upload_file.unlink(missing_ok=True)
    result["summary"] = summarize(result["runs"])
    result["workdir"] = str(root)
    save("streaming", result)
    print(report(result))
    return result


def summarize(configs: dict[str, dict[str, dict[str, list[dict[str, Any]]]]]) -> dict[str, Any]:
    return {config: summarize_config(runs) for config, runs in configs.items()}


def summarize_config(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    out = {}
    for kind, by_path in runs.items():
        direct = [r["mb_per_s"] for r in by_path["direct"]]
        bff = [r["mb_per_s"] for r in by_path["bff"]]
        growth = max(r["max_worker_growth_mib"] for r in by_path["bff"])
        out[kind] = {
            "direct_mb_per_s_median": median(direct),
            "bff_mb_per_s_median": median(bff),
            "direct_mb_per_s_best": max(direct),
            "bff_mb_per_s_best": max(bff),
            "ratio_median": median(bff) / median(direct),
            "max_worker_peak_growth_mib": growth,
            "worker_cpu_share_median": median([r["worker_cpu_share"] for r in by_path["bff"]]),
            "met_memory": growth < TARGET_GROWTH_MB,
        }
    return out


def report(result: dict[str, Any]) -> str:
    lines = [
        f"Streaming {result['bytes'] // MB} MB (curl; median of"
        f" {len(result['runs']['as_is']['download']['bff'])}; MB = 10^6 bytes):",
        f"{'':22} {'direct MB/s':>12} {'BFF MB/s':>9} {'BFF/direct':>10}"
        f" {'BFF worker peak RSS growth':>27}   worker CPU busy",
    ]
    rows = [
        (f"{kind} ({config})", s)
        for config, kinds in result["summary"].items()
        for kind, s in kinds.items()
    ]
    for label, s in rows:
        lines.append(
            f"{label:22} {s['direct_mb_per_s_median']:>12.0f} {s['bff_mb_per_s_median']:>9.0f}"
            f" {100 * s['ratio_median']:>9.0f}% {s['max_worker_peak_growth_mib']:>20.1f} MiB"
            f" (target < {TARGET_GROWTH_MB} MB: {'met' if s['met_memory'] else 'NOT met'})"
            f"   {100 * s['worker_cpu_share_median']:.0f} % of the transfer"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
