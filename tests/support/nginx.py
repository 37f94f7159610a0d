"""Debian's nginx running the reference deploy/nginx.conf in front of test gunicorns.

`render` turns the reference into a test config: plain http on 127.0.0.1:<port>, the given
gunicorn instances as the upstream, pid and logs under a temp dir. Everything else (the
buffering, the timeouts, the forwarded headers) is the shipped file's, and each
substitution must match, so the file and the test cannot drift apart unnoticed.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import requests

from tests.support.servers import ROOT, stop_process

NGINX = "/usr/sbin/nginx"
REFERENCE = ROOT / "deploy" / "nginx.conf"


def _sub(pattern: str, replacement: str, text: str, *, count: int | None = 1) -> str:
    new, found = re.subn(pattern, replacement, text, flags=re.MULTILINE | re.DOTALL)
    if count is None:
        assert found, f"deploy/nginx.conf: nothing matches {pattern!r}"
    else:
        assert found == count, f"deploy/nginx.conf: {pattern!r} matched {found}x, not {count}x"
    return new


def render(reference: str, *, port: int, upstreams: list[str], prefix: Path) -> str:
    text = _sub(r"^pid /run/nginx-bff\.pid;$", f"pid {prefix}/nginx.pid;", reference)
    text = _sub(r"/var/log/nginx/", f"{prefix}/", text, count=2)
    text = _sub(
        r"^(\s*)server 127\.0\.0\.1:8000 ([^;\n]*);$",
        lambda match: "\n".join(f"{match[1]}server {up} {match[2]};" for up in upstreams),
        text,
    )
    # Plain http on a free port: no redirect to https, no TLS.
    text = _sub(r"\n    server \{\n        listen 80;.*?\n    \}\n", "\n", text)
    text = _sub(r"^(\s*)listen 443 ssl http2;$", rf"\1listen 127.0.0.1:{port};", text)
    text = _sub(r"^\s*listen \[::\]:443 ssl http2;\n", "", text)
    text = _sub(r"^\s*ssl_[a-z_]+ [^\n]*;\n", "", text, count=None)
    if os.geteuid() != 0:
        # Not root: workers run as us, and Debian's temp paths are not ours to write.
        text = _sub(r"^user www-data;\n", "", text)
        temp = "".join(
            f"    {kind}_temp_path {prefix}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        text = _sub(r"^http \{\n", "http {\n" + temp, text)
    return text


class Nginx:
    """`nginx -p <prefix> -c <rendered config> -g 'daemon off;'`, error log to a file."""

    def __init__(self, prefix: Path, *, port: int, upstreams: list[str]) -> None:
        self.prefix = Path(prefix)
        self.prefix.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.config = self.prefix / "nginx.conf"
        self.config.write_text(
            render(REFERENCE.read_text(), port=port, upstreams=upstreams, prefix=self.prefix)
        )
        self.error_log = self.prefix / "error.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _command(self, *extra: str) -> list[str]:
        if not os.path.exists(NGINX):
            raise RuntimeError(f"{NGINX} is missing: apt-get install -y nginx")
        files = ["-p", str(self.prefix), "-c", str(self.config), "-e", str(self.error_log)]
        return [NGINX, *files, *extra]

    def start(self) -> Nginx:
        checked = subprocess.run(self._command("-t"), capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(
            self._command("-g", "daemon off;"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.read_log()}")
            try:
                requests.get(f"{self.url}/healthz", timeout=1).raise_for_status()
                return self
            except requests.RequestException:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"nginx did not answer:\n{self.read_log()}") from None
                time.sleep(0.05)

    def read_log(self) -> str:
        try:
            return self.error_log.read_text(errors="replace")[-5000:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        stop_process(self.process)
