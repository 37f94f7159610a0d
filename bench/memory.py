"""Resident memory of processes: current and peak RSS from /proc, and a sampler."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {
        key: int(re.search(rf"{key}:\s+(\d+) kB", status).group(1)) for key in ("VmRSS", "VmHWM")
    }


def reset_peak(pid: int) -> None:
    """Reset VmHWM to the current RSS (writing 5 to clear_refs; needs the process's owner)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class RSSSampler:
    """Samples VmRSS of some processes every `interval` seconds while it runs."""

    def __init__(self, pids: list[int], interval: float = 0.02) -> None:
        self.pids = pids
        self.interval = interval
        self.peak = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pids:
                try:
                    self.peak[pid] = max(self.peak[pid], memory_kib(pid)["VmRSS"])
                except (FileNotFoundError, AttributeError):
                    pass
            time.sleep(self.interval)

    def __enter__(self) -> RSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
