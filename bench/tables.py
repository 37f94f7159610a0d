"""Issue 13's target table and the scale figures, as markdown (docs/benchmarks.md takes it
as printed), from the results of run_overhead, run_queries and run_streaming."""

from __future__ import annotations

from typing import Any

# Columns in the order.
COLUMNS = {
    "postgres": "PostgreSQL alone",
    "postgres_redis": "PostgreSQL + Redis",
    "sqlite": "SQLite (the default)",
}
# Database round trips per proxied call with a fresh token, by configuration: (SQL, Redis).
ROUND_TRIP_TARGETS = {"postgres": (1, 0), "postgres_redis": (0, 1), "sqlite": (1, 0)}
STREAM_TARGET = 0.80


def mark(met: bool) -> str:
    return "met" if met else "**NOT met**"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _header(configs: list[str]) -> list[str]:
    return [
        _row(["figure", *(COLUMNS[c] for c in configs)]),
        _row(["---"] * (len(configs) + 1)),
    ]


def overhead_rows(summary: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The configurations measured (in COLUMNS order) and the overhead rows of the table."""
    by_config = summary["configs"]
    configs = [c for c in COLUMNS if c in by_config]
    rows = []

    def cells(fn: Any) -> list[str]:
        return [fn(by_config[c]) for c in configs]

    rows.append(
        _row(
            [
                "added p50 over direct, c=1 (BFF, target)",
                *cells(
                    lambda r: (
                        f"+{r['bff']['added_p50_ms']:.2f} ms"
                        f" (≤ {r['target']['added_p50_ms']}): {mark(r['met_added_p50'])}"
                    )
                ),
            ]
        )
    )
    rows.append(
        _row(
            [
                "added p50 over direct, c=1 (incumbent)",
                *cells(lambda r: f"+{r['incumbent']['added_p50_ms']:.2f} ms"),
            ]
        )
    )
    rows.append(
        _row(
            [
                "throughput ÷ floor, c=32 (BFF, target)",
                *cells(
                    lambda r: (
                        f"{r['bff']['share_of_floor']:.2f} ({r['bff']['rps_c32']:.0f} req/s;"
                        f" ≥ {r['target']['share_of_floor']}): {mark(r['met_share_of_floor'])}"
                    )
                ),
            ]
        )
    )
    rows.append(
        _row(
            [
                "throughput ÷ floor, c=32 (incumbent)",
                *cells(
                    lambda r: (
                        f"{r['incumbent']['share_of_floor']:.2f}"
                        f" ({r['incumbent']['rps_c32']:.0f} req/s)"
                    )
                ),
            ]
        )
    )
    rows.append(
        _row(
            [
                "vs the incumbent, same run: faster on both",
                *cells(
                    lambda r: (
                        f"p50 {'faster' if r['faster_than_incumbent_p50'] else 'slower'},"
                        f" req/s {'higher' if r['faster_than_incumbent_rps'] else 'lower'}: "
                        + mark(r["faster_than_incumbent_p50"] and r["faster_than_incumbent_rps"])
                    )
                ),
            ]
        )
    )
    return configs, rows


def round_trip_cell(config: str, queries: dict[str, Any] | None) -> str:
    """Round trips per fresh-token call from run_queries (the most any call made)."""
    queries = queries or {}
    server = queries.get("server_sqlite") if config == "sqlite" else None
    server = server or queries.get("server", {}).get(config)
    if not server:
        return "not measured"
    sql = max(server["fresh_token_counts"])
    redis = max(server["fresh_token_redis_counts"])
    want_sql, want_redis = ROUND_TRIP_TARGETS[config]
    met = sql <= want_sql and redis <= want_redis
    target = f"{want_sql} SQL" + (f", {want_redis} Redis" if config == "postgres_redis" else "")
    got = f"{sql} SQL" + (f", {redis} Redis" if config == "postgres_redis" else "")
    return f"{got} (target {target}): {mark(met)}"


def target_table(
    overhead: dict[str, Any] | None,
    queries: dict[str, Any] | None = None,
    streaming: dict[str, Any] | None = None,
    storm: dict[str, Any] | None = None,
    ceiling: dict[str, Any] | None = None,
) -> str:
    """Issue 13's table, each target marked met or NOT met, from the runs' results."""
    lines = []
    if overhead:
        configs, rows = overhead_rows(overhead["summary"])
        lines += _header(configs) + rows
        lines.append(
            _row(
                [
                    "database round trips per proxied call, fresh token",
                    *(round_trip_cell(c, queries) for c in configs),
                ]
            )
        )
        floor = overhead["summary"]["floor_p50_minus_direct_p50_c1_ms"]
        lines.append("")
        lines.append(f"The bare-Django floor adds +{floor:.2f} ms at c=1 in the same run.")
    if streaming:
        down = streaming["summary"]["as_is"]["download"]
        met = down["ratio_median"] >= STREAM_TARGET
        lines.append(
            f"200 MB download through the proxy: {100 * down['ratio_median']:.0f} % of direct"
            f" (target ≥ {100 * STREAM_TARGET:.0f} %): {mark(met)};"
            f" worker memory growth {down['max_worker_peak_growth_mib']:.1f} MiB"
            f" (target < 32 MB): {mark(down['met_memory'])}"
        )
    if ceiling:
        lines.append(
            "A bare Python relay (no Django, no gunicorn) in the same run: "
            + ", ".join(f"{name} {100 * r:.0f} %" for name, r in ceiling["summary"].items())
            + " of direct"
        )
    if storm:
        lines.append(
            "Refresh storm (200 concurrent calls, one session): exactly one grant and 0 failures"
            f" per storm: {mark(storm['met'])}"
        )
    return "\n".join(lines)


def overhead_table(summary: dict[str, Any]) -> str:
    """The overhead part of the target table (run_overhead's own report)."""
    configs, rows = overhead_rows(summary)
    return "\n".join(_header(configs) + rows)


def scale_table(summary: dict[str, Any]) -> str:
    """Requests/s per core (CPU of the server and its stores per request, c=32) and the
    largest worker RSS after the c=32 runs, per configuration, BFF and incumbent."""
    by_config = summary["configs"]
    configs = [c for c in COLUMNS if c in by_config]
    lines = _header(configs)
    for kind in ("bff", "incumbent"):
        lines.append(
            _row(
                [
                    f"req/s per core ({kind}: server + its stores, c=32)",
                    *(
                        f"{by_config[c][kind]['rps_per_core']:.0f}"
                        f" ({by_config[c][kind]['cpu_ms_per_request_c32']:.2f} ms CPU/request)"
                        for c in configs
                    ),
                ]
            )
        )
    for kind in ("bff", "incumbent"):
        lines.append(
            _row(
                [
                    f"RSS per worker ({kind}, after the c=32 runs)",
                    *(f"{by_config[c][kind]['worker_rss_mib_max'] or 0:.0f} MiB" for c in configs),
                ]
            )
        )
    return "\n".join(lines)
