"""Signed-in traffic that keeps flowing while a test breaks things: one thread per browser,
calling /api/echo/... and /auth/session in turn on each BFF instance, every call recorded."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import requests

from tests.faults.conftest import Session

PATHS = ("/api/echo/ping", "/auth/session")


@dataclass(frozen=True)
class Call:
    session: int  # index into the sessions
    path: str
    started: float  # time.monotonic()
    took: float
    status: int  # 0: no answer (timed out, connection refused or reset)
    error: str  # the JSON body's "error", or the exception's name
    retry_after: str | None
    json: bool
    set_cookie: bool  # the answer replaced the session cookie


class Traffic:
    """Start with `with Traffic(...) as traffic:`; read the calls afterwards."""

    def __init__(
        self,
        bases: list[str],
        sessions: list[Session],
        *,
        pause: float = 0.02,
        timeout: float = 30.0,
    ) -> None:
        self.bases = bases
        self.sessions = sessions
        self.pause = pause
        self.timeout = timeout
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(index,), daemon=True)
            for index in range(len(sessions))
        ]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    def _run(self, index: int) -> None:
        session = self.sessions[index]
        with requests.Session() as browser:
            turn = index
            while not self._stop.is_set():
                base = self.bases[turn % len(self.bases)]
                path = PATHS[turn // len(self.bases) % len(PATHS)]
                turn += 1
                self._record(self._call(browser, index, session, base + path, path))
                time.sleep(self.pause)

    def _call(
        self, browser: requests.Session, index: int, session: Session, url: str, path: str
    ) -> Call:
        started = time.monotonic()
        try:
            answer = browser.get(
                url, cookies=session.cookies, headers={"X-CSRF": "1"}, timeout=self.timeout
            )
        except requests.RequestException as exc:
            took = time.monotonic() - started
            return Call(index, path, started, took, 0, type(exc).__name__, None, False, False)
        took = time.monotonic() - started
        is_json = answer.headers.get("Content-Type", "").startswith("application/json")
        error = ""
        if is_json and answer.status_code >= 400:
            try:
                error = str(answer.json().get("error", ""))
            except ValueError:
                error = "unreadable"
        return Call(
            session=index,
            path=path,
            started=started,
            took=took,
            status=answer.status_code,
            error=error,
            retry_after=answer.headers.get("Retry-After"),
            json=is_json,
            set_cookie="bff_session=" in answer.headers.get("Set-Cookie", ""),
        )

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def between(self, start: float, end: float = float("inf")) -> list[Call]:
        """The calls that started in [start, end)."""
        with self._lock:
            return [call for call in self.calls if start <= call.started < end]


def statuses(calls: Iterable[Call]) -> Counter[int]:
    return Counter(call.status for call in calls)


def served_again_after(calls: list[Call], healed: float) -> float:
    """Seconds from `healed` until every call that started later was a 200 (inf: never)."""
    later = [call for call in calls if call.started >= healed]
    if not any(call.status == 200 for call in later):
        return float("inf")
    last_bad = max((c.started + c.took for c in later if c.status != 200), default=healed)
    if not any(call.status == 200 and call.started >= last_bad for call in later):
        return float("inf")
    return max(last_bad - healed, 0.0)


def summary(calls: list[Call]) -> str:
    counts = statuses(calls)
    slowest = max((call.took for call in calls), default=0.0)
    return f"{len(calls)} calls {dict(sorted(counts.items()))} slowest={slowest:.2f}s"
