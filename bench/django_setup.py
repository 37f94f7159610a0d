"""Django in the benchmark driver process, configured like the BFF it drives.

The driver (the process running a bench.run_* module) reads and changes the BFF's token
records through the app's own Python API (bff.models.TokenSession, bff.record_cache), never
with SQL against the app's tables or cache keys of its own. For that, setup() calls
django.setup() once per driver process, with the BFF's settings module (bench.bff_settings)
and the environment of the first BFF of the stack (stacks.BFFStack.start_bff calls it right
after that BFF started and migrated the stack's database, before the first ORM use):

- DATABASE_URL: the stack's own database (bench_<name>), known only once the stack exists;
- CACHE_URL and the session engine: the benchmarks' shared Redis cache
  (stacks.REDIS_CACHE_ENV) whatever the first BFF used, so record_cache.forget() reaches
  every BFF that caches records (a BFF on a per-process cache caches none);
- LOG_LEVEL=WARNING: no log line per in-process request (run_queries).

The environment is applied only while Django reads the settings, then restored, so the
servers started later (each with a configuration of its own) do not inherit it. Django
cannot be configured twice in a process: a later setup() for another database fails.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

SETTINGS_MODULE = "bench.bff_settings"

_database_url: str | None = None


def setup(env: Mapping[str, str]) -> None:
    """django.setup() in this process with `env` (once; later calls must name the same database)."""
    global _database_url
    database_url = env["DATABASE_URL"]
    if _database_url is not None:
        if database_url != _database_url:
            raise RuntimeError(
                f"Django in this process is set up for {_database_url}, not {database_url}:"
                " one stack per driver process"
            )
        return
    saved = dict(os.environ)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    try:
        import django

        django.setup()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    _database_url = database_url


def require() -> None:
    """Fail unless setup() ran in this process (call before the first ORM use)."""
    if _database_url is None:
        raise RuntimeError(
            "Django is not set up in this process: start a BFF of the stack first"
            " (BFFStack.start_bff calls bench.django_setup.setup)"
        )
