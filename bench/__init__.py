"""The benchmarks (docs/benchmarks.md), a package: run each as a module from the repository root.

    .venv/bin/python -m bench.run_all       (= make bench)
    .venv/bin/python -m bench.run_overhead  (and run_streaming, run_refresh_storm, run_queries)

Shared pieces by concern: stacks (servers), sessions (sign-in, the token record),
django_setup (Django in the driver), wrk, cpu, memory, workers, machine, results.
"""
