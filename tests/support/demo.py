"""Start the demo API as a real gunicorn server for tests, trusting tokens of one issuer."""

from __future__ import annotations

from pathlib import Path

from tests.support.servers import Server


def start_demo(
    workdir: Path,
    *,
    issuer: str,
    audience: str = "demo-api",
    env: dict[str, str] | None = None,
    port: int | None = None,
    asgi: bool = False,
) -> Server:
    """Migrate a fresh demo database in `workdir`, start the server and return it (call .stop())."""
    workdir = Path(workdir)
    server = Server(
        name="demo",
        settings_module="demo.settings",
        workdir=workdir,
        host="127.0.0.1",
        port=port,
        env={
            "DEMO_ISSUER": issuer,
            "DEMO_AUDIENCE": audience,
            "DEMO_DATABASE_URL": f"sqlite:///{workdir.resolve() / 'demo.sqlite3'}",
            **(env or {}),
        },
        ready_path="/healthz",
        # Under uvicorn it also serves live data (subscriptions, event streams).
        asgi="demo.asgi:application" if asgi else None,
    )
    server.manage("migrate", "--noinput", "--verbosity", "0")
    return server.start()
