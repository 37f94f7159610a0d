"""Where a run's results go (bench/results/, gitignored) and the statistics reported."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def save(name: str, data: dict[str, Any]) -> Path:
    """Write `data` to bench/results/<name>.json; return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def workdir(name: str) -> Path:
    """A fresh bench/results/<name>/ for one run's servers, logs and raw files."""
    path = RESULTS / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of `values`."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    """The median of `values` (NaN for none)."""
    return statistics.median(values) if values else float("nan")
