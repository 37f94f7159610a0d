"""Real HTTP servers for tests: each of the BFF, the built-in provider and the demo API runs
as its own gunicorn process on 127.0.0.1 with its own settings module and database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen | None, log: IO[bytes] | None = None) -> None:
    """Terminate a child (kill it after 10 s) and close its log file."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if log is not None:
        log.close()


class Server:
    """One Django project served by gunicorn in a child process."""

    def __init__(
        self,
        name: str,
        settings_module: str,
        workdir: Path,
        env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        workers: int = 1,
        threads: int = 16,
        ready_path: str = "/",
        config: Path | None = None,
        asgi: str | None = None,
        python: str = sys.executable,
    ) -> None:
        self.name = name
        # "module:application": served by uvicorn (one process) instead of gunicorn.
        self.asgi = asgi
        # The interpreter gunicorn runs under (another virtualenv's for bench/incumbent_site).
        self.python = python
        self.settings_module = settings_module
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port or free_port()
        self.workers = workers
        self.threads = threads
        self.ready_path = ready_path
        # A gunicorn config file (config/gunicorn.conf.py); the options below override it.
        self.config = config
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.log_path = self.workdir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def manage(self, *args: str) -> str:
        """Run a manage.py command with this server's settings; return its stdout."""
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{self.name}: manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def start(self) -> Server:
        wsgi = self.settings_module.rsplit(".", 1)[0] + ".wsgi"
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log = log
        config = ["--config", str(self.config)] if self.config else []
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            str(self.asgi),
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--ws",
            "websockets-sansio",
        ]
        self.process = subprocess.Popen(
            command
            if self.asgi
            else [
                self.python,
                "-m",
                "gunicorn",
                *config,
                wsgi,
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--worker-class",
                "gthread",
                "--threads",
                str(self.threads),
                "--timeout",
                "120",
                "--graceful-timeout",
                "2",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            self.wait_ready()
        except Exception:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.read_log()}")
            try:
                requests.get(f"http://127.0.0.1:{self.port}{self.ready_path}", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start in {timeout}s:\n{self.read_log()}")

    def read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        stop_process(self.process, getattr(self, "_log", None))
