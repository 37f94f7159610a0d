"""Hot-path changes tried out by the benchmarks only, never by the BFF itself.

A benchmark server gets them with BENCH_EXPERIMENTS=name,name (bench/gunicorn_hooks.py applies
them in each worker after the application is loaded), so a recommended change is measured
before anyone writes it into bff/. Each one says what it replaces.

    raw_record    bff.middleware.load_session: the record and its user in one hand-written
                  SQL query (Model.from_db), instead of the ORM building the same JOIN each time
    chunk_1mib    bff.proxy.CHUNK_BYTES = 1 MiB instead of 64 KiB (bodies both ways)
"""

from __future__ import annotations

import os
from typing import Any


def load_session_raw(record_id: str) -> Any:
    """bff.sessions.load_session, with one prepared SQL string instead of the ORM's compile."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from bff.exceptions import SessionEnded
    from bff.models import TokenSession

    sql, record_fields, user_fields = _record_sql()
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, [record_id])
            row = cursor.fetchone()
    except (ValueError, TypeError) as exc:
        raise SessionEnded("unknown") from exc
    if row is None:
        raise SessionEnded("unknown")
    split = len(record_fields)
    record = TokenSession.from_db("default", record_fields, row[:split])
    user = get_user_model().from_db("default", user_fields, row[split:])
    record._state.fields_cache["user"] = user
    if not record.is_live:
        raise SessionEnded(record.end_reason)
    return record


_cache: dict[str, Any] = {}


def _record_sql() -> tuple[str, list[str], list[str]]:
    if "sql" not in _cache:
        from django.contrib.auth import get_user_model

        from bff.models import TokenSession

        record_meta, user_meta = TokenSession._meta, get_user_model()._meta
        record_cols = [f.column for f in record_meta.concrete_fields]
        user_cols = [f.column for f in user_meta.concrete_fields]
        select = ", ".join([f'r."{c}"' for c in record_cols] + [f'u."{c}"' for c in user_cols])
        _cache["sql"] = (
            f'SELECT {select} FROM "{record_meta.db_table}" r'
            f' JOIN "{user_meta.db_table}" u ON u."{user_meta.pk.column}" = r."user_id"'
            f' WHERE r."{record_meta.pk.column}" = %s'
        )
        _cache["record_fields"] = [f.attname for f in record_meta.concrete_fields]
        _cache["user_fields"] = [f.attname for f in user_meta.concrete_fields]
    return _cache["sql"], _cache["record_fields"], _cache["user_fields"]


def apply(names: list[str]) -> None:
    if "raw_record" in names:
        import bff.middleware

        bff.middleware.load_session = load_session_raw
    if "chunk_1mib" in names:
        import bff.proxy

        bff.proxy.CHUNK_BYTES = 1024 * 1024


def apply_from_environment() -> None:
    names = [n for n in os.environ.get("BENCH_EXPERIMENTS", "").split(",") if n]
    if names:
        apply(names)
